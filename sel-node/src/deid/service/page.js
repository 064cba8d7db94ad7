"use strict";
(function () {
  var KEY_SLOT = "sel-deid-api-key";
  var key = document.getElementById("key");
  var text = document.getElementById("text");
  var button = document.getElementById("redact");
  var tbody = document.querySelector("#entities tbody");
  var result = document.getElementById("result");
  var status = document.getElementById("status");

  // The key lives in this tab's sessionStorage only: never in a URL,
  // never in localStorage, gone when the tab closes.
  key.value = sessionStorage.getItem(KEY_SLOT) || "";
  key.addEventListener("input", function () {
    sessionStorage.setItem(KEY_SLOT, key.value);
  });

  function cell(row, value) {
    var td = document.createElement("td");
    td.textContent = String(value);
    row.appendChild(td);
  }

  function showEmpty(message) {
    tbody.textContent = "";
    var row = document.createElement("tr");
    row.className = "empty";
    var td = document.createElement("td");
    td.colSpan = 5;
    td.textContent = message;
    row.appendChild(td);
    tbody.appendChild(row);
  }

  function show(answer) {
    tbody.textContent = "";
    answer.entities.forEach(function (e, i) {
      var row = document.createElement("tr");
      cell(row, i + 1);
      cell(row, e.label);
      cell(row, e.text);
      cell(row, e.action);
      cell(row, e.start + "\u2013" + e.end);
      tbody.appendChild(row);
    });
    if (answer.entities.length === 0) {
      showEmpty("No entities detected.");
    }
    result.textContent = answer.result_text;
    status.className = "";
    status.textContent = answer.entities.length + " entities in " + answer.time_ms.toFixed(1) + " ms";
  }

  function fail(message) {
    status.className = "error";
    status.textContent = message;
  }

  button.addEventListener("click", function () {
    var apiKey = key.value.trim();
    if (!apiKey) {
      fail("Enter an API key first.");
      return;
    }
    button.disabled = true;
    status.className = "";
    status.textContent = "Working\u2026";
    fetch("/pii/deidentify", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": apiKey },
      body: JSON.stringify({ text: text.value }),
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(response.status + ": " + (body.detail || "request failed"));
        }
        show(body);
      });
    }).catch(function (err) {
      fail(err.message);
    }).then(function () {
      button.disabled = false;
    });
  });

  showEmpty("No entities detected. Paste text and press Redact.");
})();
