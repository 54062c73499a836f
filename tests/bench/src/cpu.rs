//! How much of the machine's CPU other processes took during a phase. On a shared machine a
//! compile running beside the benchmark can halve one endpoint's throughput and not another's,
//! so each phase says how quiet the machine was. Linux only (`/proc`); elsewhere unknown.

/// CPU time so far, in clock ticks, of the whole machine and of this process.
pub struct CpuTimes {
    machine_busy: u64,
    machine_total: u64,
    own: u64,
}

impl CpuTimes {
    pub fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let machine: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal; guest time is already in user and nice
        let total: u64 = machine.iter().take(8).sum();
        let idle = machine.get(3)? + machine.get(4)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // after the parenthesised name (which may hold spaces): state is field 3, utime 14, stime 15
        let mut fields = own[own.rfind(')')? + 1..].split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(CpuTimes { machine_busy: total - idle, machine_total: total, own: utime + stime })
    }

    /// The share (0–1) of all the machine's CPU time since `earlier` that other processes used.
    pub fn others_since(&self, earlier: &CpuTimes) -> f64 {
        let total = self.machine_total.saturating_sub(earlier.machine_total);
        let busy = self.machine_busy.saturating_sub(earlier.machine_busy);
        let own = self.own.saturating_sub(earlier.own);
        if total == 0 { 0.0 } else { busy.saturating_sub(own) as f64 / total as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine_on_linux() {
        if cfg!(target_os = "linux") {
            let before = CpuTimes::now().expect("/proc is readable");
            let after = CpuTimes::now().expect("/proc is readable");
            assert!((0.0..=1.0).contains(&after.others_since(&before)));
        }
    }
}
