//! Checking emitted PTX with NVIDIA's assembler, `ptxas`, when one is
//! installed: the test suites (and CI) assemble every kernel they generate
//! for sm_80 and sm_90. The assembler is found through the environment
//! variable [`PTXAS_ENV`]; without it nothing is run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable holding the path of the `ptxas` binary.
pub const PTXAS_ENV: &str = "RJAX_PTXAS";

/// The `ptxas` named by [`PTXAS_ENV`], if set and non-empty.
pub fn ptxas_from_env() -> Option<PathBuf> {
    std::env::var_os(PTXAS_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Replaces the `.version` and `.target` lines of a module with those for
/// `sm_<sm>`.
pub fn retarget(ptx: &str, sm: u32) -> String {
    ptx.lines()
        .map(|l| {
            if l.starts_with(".target ") {
                format!(".target sm_{sm}")
            } else if l.starts_with(".version ") {
                format!(".version {}", super::isa_version(sm))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Assembles `ptx` for `sm_<sm>` with `ptxas -O3` into a temporary cubin
/// (deleted afterwards).
///
/// # Errors
/// The assembler's diagnostics (or why it could not run), as text.
pub fn assemble(ptxas: &Path, ptx: &str, sm: u32) -> Result<(), String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let stem = format!("rjax_ptxas_{}_{n}", std::process::id());
    let src = dir.join(format!("{stem}.ptx"));
    let out = dir.join(format!("{stem}.cubin"));
    std::fs::write(&src, retarget(ptx, sm)).map_err(|e| format!("writing {src:?}: {e}"))?;
    let result = Command::new(ptxas)
        .arg(format!("-arch=sm_{sm}"))
        .arg("-O3")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output();
    let _ = std::fs::remove_file(&out);
    let verdict = match result {
        Err(e) => Err(format!("running {ptxas:?}: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "ptxas -arch=sm_{sm} failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
    };
    if verdict.is_ok() {
        let _ = std::fs::remove_file(&src);
    }
    verdict
}

/// Joins PTX modules into one: the first header is kept, the others are
/// dropped, and module `j`'s entries are renamed `rjax_m<j>_…` so names
/// stay unique (entry names appear only on their `.entry` lines).
pub fn merge_modules<'a>(modules: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (j, m) in modules.into_iter().enumerate() {
        for line in m.lines() {
            let header = line.starts_with(".version ")
                || line.starts_with(".target ")
                || line.starts_with(".address_size ");
            if header && j > 0 {
                continue;
            }
            let renamed = line.replace(".entry rjax_", &format!(".entry rjax_m{j}_"));
            out.push_str(&renamed);
            out.push('\n');
        }
    }
    out
}

/// The number of kernel entries in a module.
pub fn entries(ptx: &str) -> usize {
    ptx.matches(".visible .entry ").count()
}

/// What [`assemble_many`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Kernel entries assembled, counted once per arch.
    pub assembled: usize,
    /// One message per (module, arch) pair that did not: its label, the
    /// arch and ptxas's diagnostics.
    pub failures: Vec<String>,
}

/// Modules joined into one ptxas run by [`assemble_many`].
pub const BATCH: usize = 32;

/// A distinct module text: the first label it had, the text, its copies.
type Distinct<'a> = (&'a str, &'a str, usize);

/// Assembles every labelled module for every arch in `archs`: identical
/// modules are assembled once (and counted for each copy), the others are
/// merged [`BATCH`] at a time (ptxas costs about 10 ms a run before any
/// work), batches run on up to `workers` threads, and a batch that fails
/// is retried module by module to name the culprits.
pub fn assemble_many(
    ptxas: &Path,
    modules: &[(String, String)],
    archs: &[u32],
    workers: usize,
) -> Report {
    let mut unique: Vec<Distinct<'_>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (label, text) in modules {
        match index.get(text.as_str()) {
            Some(&i) => unique[i].2 += 1,
            None => {
                index.insert(text, unique.len());
                unique.push((label, text, 1));
            }
        }
    }
    let jobs: Vec<(&[Distinct<'_>], u32)> = unique
        .chunks(BATCH)
        .flat_map(|c| archs.iter().map(move |&sm| (c, sm)))
        .collect();
    let next = std::sync::Mutex::new(0usize);
    let report = std::sync::Mutex::new(Report::default());
    let run = |batch: &[Distinct<'_>], sm: u32| -> Report {
        let merged = merge_modules(batch.iter().map(|(_, m, _)| *m));
        if assemble(ptxas, &merged, sm).is_ok() {
            return Report {
                assembled: batch.iter().map(|(_, m, n)| entries(m) * n).sum(),
                failures: Vec::new(),
            };
        }
        let mut r = Report::default();
        for (label, m, n) in batch {
            match assemble(ptxas, m, sm) {
                Ok(()) => r.assembled += entries(m) * n,
                Err(e) => r
                    .failures
                    .push(format!("{label} (sm_{sm}, {n} copies): {e}")),
            }
        }
        r
    };
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = match next.lock() {
                    Ok(mut n) => {
                        *n += 1;
                        *n - 1
                    }
                    Err(_) => break,
                };
                let Some((batch, sm)) = jobs.get(i) else {
                    break;
                };
                let r = run(batch, *sm);
                if let Ok(mut total) = report.lock() {
                    total.assembled += r.assembled;
                    total.failures.extend(r.failures);
                }
            });
        }
    });
    report.into_inner().unwrap_or_default()
}
