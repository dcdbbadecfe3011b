//! Reading a workflow's history (as `TestApp::history` gives it) for what the tests check of
//! fan-outs: which activities ran, when each was scheduled and finished, and on which worker.

use anyhow::Context;
use serde_json::Value;
use std::collections::BTreeSet;

/// One scheduled activity of a history.
#[derive(Clone, Debug)]
pub struct ActivityRun {
    /// Index of its scheduling event in the history.
    pub scheduled_at: usize,
    /// Index of its completion event, if it completed.
    pub completed_at: Option<usize>,
    /// The identity of the worker that ran it (Temporal records one start: the last attempt's).
    pub worker: Option<String>,
}

/// The history's events.
pub struct History {
    events: Vec<Value>,
}

impl History {
    pub fn parse(json: &[u8]) -> anyhow::Result<Self> {
        let doc: Value = serde_json::from_slice(json)?;
        let events = doc["events"].as_array().context("events")?.clone();
        Ok(Self { events })
    }

    /// Every scheduling of activity type `name`, in order.
    pub fn runs(&self, name: &str) -> Vec<ActivityRun> {
        let id_at = |at: usize| self.events[at]["event_id"].as_u64();
        self.events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e["attributes"]["ActivityTaskScheduledEventAttributes"]["activity_type"]["name"]
                    == name
            })
            .map(|(scheduled_at, _)| {
                let of_this = |kind: &'static str| {
                    let id = id_at(scheduled_at);
                    self.events.iter().enumerate().filter(move |(_, e)| {
                        e["attributes"][kind]["scheduled_event_id"].as_u64() == id
                    })
                };
                ActivityRun {
                    scheduled_at,
                    completed_at: of_this("ActivityTaskCompletedEventAttributes")
                        .map(|(at, _)| at)
                        .next(),
                    worker: of_this("ActivityTaskStartedEventAttributes")
                        .filter_map(|(_, e)| {
                            e["attributes"]["ActivityTaskStartedEventAttributes"]["identity"]
                                .as_str()
                        })
                        .next()
                        .map(str::to_string),
                }
            })
            .collect()
    }
}

/// Whether every run was scheduled before any of them completed (scheduled together, not one
/// after another).
pub fn scheduled_together(runs: &[ActivityRun]) -> bool {
    let last_scheduled = runs.iter().map(|r| r.scheduled_at).max();
    let first_done = runs.iter().filter_map(|r| r.completed_at).min();
    match (last_scheduled, first_done) {
        (Some(s), Some(d)) => s < d,
        _ => false,
    }
}

/// The workers that ran the runs.
pub fn workers(runs: &[ActivityRun]) -> BTreeSet<String> {
    runs.iter().filter_map(|r| r.worker.clone()).collect()
}
