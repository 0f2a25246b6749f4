//! The threads that read the event streams, kept between streams: a
//! process sends at least two (its start, its exit report), and a shell
//! under `--trace-children=yes` starts hundreds of processes, so starting
//! a thread per stream (its stack, guard page and signal stack mapped,
//! then unmapped) was a large part of what each traced process cost.
//!
//! Every stream handed over gets a thread of its own at once (one that is
//! idle, or a new one): a stream never waits behind another, as the
//! runtime that sent it waits until it is read.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// One stream's reading, run on a worker.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// Reader threads waiting for streams, each on a channel of its own (a job
/// wakes only the worker it is given to). Dropping it ends the idle ones
/// (those still reading end with their stream, or with memdx).
pub(super) struct Workers {
    /// The channels of the workers waiting for a job; a worker puts its
    /// own back when it finishes one.
    idle: Arc<Mutex<Vec<Sender<Job>>>>,
}

impl Workers {
    pub(super) fn new() -> Workers {
        Workers {
            idle: Arc::default(),
        }
    }

    /// Runs `job` on an idle worker, or on a new one when none is idle.
    pub(super) fn run(&self, job: Job) {
        let waiting = self.idle.lock().ok().and_then(|mut list| list.pop());
        let job = match waiting {
            // Taken off the list: this worker has no other job.
            Some(worker) => match worker.send(job) {
                Ok(()) => return,
                // Its thread is gone (it cannot be, short of a panic in a
                // job): a new one runs the job.
                Err(unsent) => unsent.0,
            },
            None => job,
        };
        let idle = self.idle.clone();
        let spawned = std::thread::Builder::new()
            .name("memdx-reader".into())
            .spawn(move || work(job, &idle));
        if let Err(e) = spawned {
            // Without a thread the stream cannot be read: the runtime
            // gives up on it after its timeout.
            eprintln!("memdx check: cannot start a reader thread: {e}");
        }
    }

    /// Workers waiting for a job.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |list| list.len())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if let Ok(mut list) = self.idle.lock() {
            list.clear();
        }
    }
}

/// A worker: its first job, then whatever it is handed while idle, until
/// the pool is dropped.
fn work(first: Job, idle: &Mutex<Vec<Sender<Job>>>) {
    first();
    loop {
        // A channel per wait: its only sender is on the idle list, so the
        // wait ends when the pool is dropped.
        let (me, jobs): (Sender<Job>, Receiver<Job>) = channel();
        match idle.lock() {
            Ok(mut list) => list.push(me),
            Err(_) => return,
        }
        match jobs.recv() {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;
    use std::time::Duration;

    #[test]
    fn a_job_never_waits_behind_a_running_one_and_threads_are_reused() {
        let workers = Workers::new();
        // Job 1 blocks until job 2 has run: with one thread for both this
        // would never finish.
        let (release_tx, release_rx) = sync_channel::<()>(1);
        let (done_tx, done_rx) = channel::<std::thread::ThreadId>();
        let d1 = done_tx.clone();
        workers.run(Box::new(move || {
            release_rx
                .recv_timeout(Duration::from_secs(20))
                .expect("job 2 ran while job 1 was running");
            d1.send(std::thread::current().id()).unwrap();
        }));
        let d2 = done_tx.clone();
        workers.run(Box::new(move || {
            release_tx.send(()).unwrap();
            d2.send(std::thread::current().id()).unwrap();
        }));
        let a = done_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        let b = done_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_ne!(a, b);
        // Both threads are idle again (or about to be): later jobs run on
        // them, not on new threads.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            while workers.idle_count() == 0 {
                std::thread::yield_now();
            }
            let d = done_tx.clone();
            workers.run(Box::new(move || {
                d.send(std::thread::current().id()).unwrap();
            }));
            seen.insert(done_rx.recv_timeout(Duration::from_secs(20)).unwrap());
        }
        assert!(seen.iter().all(|t| *t == a || *t == b), "{seen:?}");
    }
}
