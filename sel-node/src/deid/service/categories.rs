//! `GET/POST/DELETE /phi-categories`: the categories the engine detects.
//!
//! The list holds the built-in labels (lower case, `builtin: true`; they
//! cannot be added again or removed) and the user categories (a regex
//! and/or context words, persisted in `deid.redb`). A change builds a new
//! engine and swaps it in ([`crate::deid::EngineHandle::replace`]), so it
//! takes effect for the next request of every part; requests already
//! running finish on the engine they started with.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{ServiceError, parse_json, respond};
use super::store::StoredCategory;
use super::{DeidService, auth, blocking};
use crate::deid::category::valid_name;
use crate::deid::{Category, CategoryError, Engine};

/// Longest description kept.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddCategory {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    context: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CategoryInfo {
    name: String,
    description: String,
    builtin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    context: Vec<String>,
}

impl DeidService {
    /// The built-in labels of the current engine, lower case (the engine's
    /// labels minus the user categories').
    fn builtin_names(&self, user: &[StoredCategory]) -> Vec<String> {
        let engine = self.engine.current();
        engine
            .labels()
            .into_iter()
            .map(|l| l.to_ascii_lowercase())
            .filter(|l| !user.iter().any(|c| &c.category.name == l))
            .collect()
    }

    fn category_list(&self, user: &[StoredCategory]) -> serde_json::Value {
        let mut all: Vec<CategoryInfo> = self
            .builtin_names(user)
            .into_iter()
            .map(|name| CategoryInfo {
                name,
                description: "built-in recognizer".into(),
                builtin: true,
                regex: None,
                context: Vec::new(),
            })
            .collect();
        all.extend(user.iter().map(|c| CategoryInfo {
            name: c.category.name.clone(),
            description: c.description.clone(),
            builtin: false,
            regex: c.category.regex.clone(),
            context: c.category.context.clone(),
        }));
        serde_json::json!({ "categories": all })
    }

    pub(super) fn lock_categories(&self) -> std::sync::MutexGuard<'_, Vec<StoredCategory>> {
        self.categories.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the engine for `user`; a refusal is the client's (422 / 409).
    fn build_engine(user: &[StoredCategory]) -> Result<Engine, ServiceError> {
        let plain: Vec<Category> = user.iter().map(|c| c.category.clone()).collect();
        Engine::with_categories(&plain).map_err(|e| match e {
            CategoryError::Duplicate { .. } => ServiceError::conflict(e.to_string()),
            other => ServiceError::unprocessable(other.to_string()),
        })
    }

    /// With a shared store, reads what other processes changed first, so a
    /// change is checked against the current categories.
    fn refresh_before_change(&self) -> Result<(), ServiceError> {
        self.refresh_from_store()
            .map(|_| ())
            .map_err(|e| ServiceError::internal(e.to_string()))
    }

    /// Adds a category: validated, engine built, persisted, swapped in.
    fn add_category(&self, new: StoredCategory) -> Result<serde_json::Value, ServiceError> {
        self.refresh_before_change()?;
        let mut user = self.lock_categories();
        let name = &new.category.name;
        if user.iter().any(|c| &c.category.name == name)
            || self.builtin_names(&user).iter().any(|b| b == name)
        {
            return Err(ServiceError::conflict(format!(
                "category `{name}` already exists"
            )));
        }
        new.category
            .validate()
            .map_err(|e| ServiceError::unprocessable(e.to_string()))?;
        let mut next = user.clone();
        next.push(new.clone());
        next.sort_by(|a, b| a.category.name.cmp(&b.category.name));
        let engine = Self::build_engine(&next)?;
        self.store
            .put_category(&new)
            .map_err(|e| ServiceError::internal(e.to_string()))?;
        self.engine.replace(engine);
        *user = next;
        Ok(self.category_list(&user))
    }

    /// Removes a user category (404 unknown, 409 built-in).
    fn remove_category(&self, name: &str) -> Result<serde_json::Value, ServiceError> {
        self.refresh_before_change()?;
        let mut user = self.lock_categories();
        let Some(index) = user.iter().position(|c| c.category.name == name) else {
            if self.builtin_names(&user).iter().any(|b| b == name) {
                return Err(ServiceError::conflict(format!(
                    "category `{name}` is built in and cannot be removed"
                )));
            }
            return Err(ServiceError::not_found("unknown category"));
        };
        let mut next = user.clone();
        next.remove(index);
        let engine = Self::build_engine(&next)?;
        self.store
            .remove_category(name)
            .map_err(|e| ServiceError::internal(e.to_string()))?;
        self.engine.replace(engine);
        *user = next;
        Ok(self.category_list(&user))
    }
}

fn parse_add(body: &[u8]) -> Result<StoredCategory, ServiceError> {
    let req: AddCategory = parse_json(body, "category")?;
    if !valid_name(&req.name) {
        return Err(ServiceError::unprocessable(
            "category name must match [a-z][a-z0-9_]*",
        ));
    }
    if req.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ServiceError::unprocessable(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(StoredCategory {
        category: Category {
            name: req.name,
            regex: req.regex,
            context: req.context,
        },
        description: req.description,
    })
}

async fn add(service: Arc<DeidService>, body: Bytes) -> Result<Response, ServiceError> {
    let new = parse_add(&body)?;
    let list = blocking(move || service.add_category(new)).await?;
    tracing::info!("category added");
    Ok(warp::reply::with_status(warp::reply::json(&list), StatusCode::CREATED).into_response())
}

async fn remove(service: Arc<DeidService>, name: String) -> Result<Response, ServiceError> {
    if !valid_name(&name) {
        return Err(ServiceError::not_found("unknown category"));
    }
    let list = blocking(move || service.remove_category(&name)).await?;
    tracing::info!("category removed");
    Ok(warp::reply::json(&list).into_response())
}

pub fn routes(service: Arc<DeidService>) -> BoxedFilter<(Response,)> {
    let s = service.clone();
    let list = warp::path!("phi-categories")
        .and(warp::get())
        .and(auth::auth(service.clone()))
        .then(move || {
            // The lock may be held by a change building an engine: wait for
            // it off the async workers.
            let s = s.clone();
            respond(async move {
                let list = blocking(move || {
                    let user = s.lock_categories().clone();
                    Ok(s.category_list(&user))
                })
                .await?;
                Ok(warp::reply::json(&list).into_response())
            })
        });
    let s = service.clone();
    let add = warp::path!("phi-categories")
        .and(warp::post())
        .and(auth::auth(service.clone()))
        .and(warp::body::bytes())
        .then(move |body| respond(add(s.clone(), body)));
    let s = service.clone();
    let remove = warp::path!("phi-categories" / String)
        .and(warp::delete())
        .and(auth::auth(service))
        .then(move |name| respond(remove(s.clone(), name)));
    list.or(add).unify().or(remove).unify().boxed()
}
