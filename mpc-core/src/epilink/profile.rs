//! Profiles: named sets of the run's knobs, so that a node operator picks
//! "the sites are on one LAN" or "the sites are across a WAN" instead of
//! carry structures and OT parameters.
//!
//! [`Profile`] itself is a wire type (`protocol_spec`: it appears in the
//! node's `initRemote` configuration and in the job announcement); this
//! module says what each profile means for the computation. Every knob a
//! profile sets is also checked in the EpiLink handshake, so two nodes
//! that somehow apply different profiles fail there with a precise error
//! rather than computing garbage.
//!
//! * `lan` — fewest CPU cycles: ripple carries everywhere
//!   ([`Carries::MIN_GATES`], 11 % fewer OTs than the balanced carries and
//!   about 6 % less CPU measured, SPEC §8 6.4); SoftSpokenOT (the fastest
//!   OT per CPU cycle here); the binary record tournament (fewest
//!   comparisons).
//! * `wan` — fewest bytes × rounds: log-depth carries for the comparison
//!   signs ([`Carries::BALANCED`]: 2.3× fewer rounds than ripple for 9 %
//!   more bytes; log-depth carries in the similarity circuit too
//!   ([`Carries::MIN_ROUNDS`]) would cut another 13 % of the rounds for
//!   twice the bytes); Ferret silent OT (under 1 bit per OT on the wire
//!   instead of 31, for about twice the CPU); the 8-ary record tournament
//!   (5 comparison layers instead of 14 for 1 × 10,000).
//!
//! Neither reveals anything new: a profile only chooses among circuits
//! that compute the same function on the same shares, and every message
//! length already depends only on public facts (M, N, configuration,
//! options); the profile is one more public option, agreed in the open.

pub use protocol_spec::messages::mainsel::Profile;

use super::OtBackend;
use super::job::JobOptions;
use super::plan::Carries;
use super::protocol::Options;

/// What a profile sets. An extension trait because [`Profile`] is a wire
/// type of `protocol_spec`, which knows nothing of the 2PC.
pub trait ProfileKnobs {
    /// The carry structures of the circuits.
    fn carries(self) -> Carries;

    /// Sets this profile's knobs in `opts` (leaves the job id, limits,
    /// progress and cancellation alone).
    fn apply(self, opts: &mut JobOptions);

    /// Standalone-run options ([`super::run_client`] and friends) with
    /// this profile's knobs and everything else at its default.
    fn options(self) -> Options;
}

impl ProfileKnobs for Profile {
    fn carries(self) -> Carries {
        match self {
            Profile::Lan => Carries::MIN_GATES,
            Profile::Wan => Carries::BALANCED,
        }
    }

    fn apply(self, opts: &mut JobOptions) {
        opts.carries = self.carries();
        opts.ot_backend = match self {
            Profile::Lan => OtBackend::SoftSpoken,
            Profile::Wan => OtBackend::Ferret,
        };
        opts.record_arity = match self {
            Profile::Lan => 2,
            Profile::Wan => 8,
        };
    }

    fn options(self) -> Options {
        let mut job = JobOptions::default();
        self.apply(&mut job);
        Options {
            carries: job.carries,
            lanes_per_chunk: job.lanes_per_chunk,
            ot_backend: job.ot_backend,
            record_arity: job.record_arity,
            ..Options::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_differ_and_options_agree_with_apply() {
        assert_ne!(Profile::Lan.carries(), Profile::Wan.carries());
        for p in [Profile::Lan, Profile::Wan] {
            let mut job = JobOptions::default();
            p.apply(&mut job);
            let o = p.options();
            assert_eq!(o.carries, job.carries);
            assert_eq!(o.lanes_per_chunk, job.lanes_per_chunk);
            assert_eq!(o.ot_backend, job.ot_backend);
            assert_eq!(o.record_arity, job.record_arity);
        }
    }

    #[test]
    fn apply_leaves_the_job_alone() {
        let mut job = JobOptions {
            job_id: "j-1".into(),
            max_peer_records: 5,
            ..JobOptions::default()
        };
        Profile::Lan.apply(&mut job);
        assert_eq!(job.job_id, "j-1");
        assert_eq!(job.max_peer_records, 5);
        assert_eq!(job.carries, Carries::MIN_GATES);
    }

    #[test]
    fn the_default_profile_is_wan_with_the_default_carries() {
        // A node that announces no profile means `wan`; the carries of the
        // library's default run are `wan`'s.
        assert_eq!(Profile::default(), Profile::Wan);
        assert_eq!(Profile::default().carries(), Carries::default());
        let mut job = JobOptions::default();
        Profile::Wan.apply(&mut job);
        assert_eq!((job.ot_backend, job.record_arity), (OtBackend::Ferret, 8));
        Profile::Lan.apply(&mut job);
        assert_eq!(
            (job.ot_backend, job.record_arity),
            (OtBackend::SoftSpoken, 2)
        );
    }
}
