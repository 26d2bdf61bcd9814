//! Launching a [`PtxKernel`]'s entries: the parameter values and the launch
//! configuration of each, as pure functions ([`pack_params`],
//! [`launch_config`]) tested without a GPU, and the launch itself.
//!
//! Every entry parameter is a `.param .u64` device address (see the PTX
//! module's interface docs): the address of the program buffer bound to a
//! kernel buffer, or of the step's scratch area.

use super::driver::GpuDevice;
use crate::ptx::{Launch, Param, PtxEntry};
use cudarc::driver::{CudaFunction, LaunchConfig, PushKernelArg};
use rjax_ir::{Error, Result};

/// The most threads a CUDA block may have.
pub const MAX_BLOCK_THREADS: u32 = 1024;

/// The most blocks of a 1-D grid.
pub const MAX_GRID_BLOCKS: u32 = i32::MAX as u32;

fn launch_error(message: String) -> Error {
    Error::op("cuda backend", message)
}

/// The parameter values of `entry`: `buffers[i]` is the device address of
/// the kernel's buffer `i`, `scratch` the address of the scratch area.
///
/// # Errors
/// When a parameter names a buffer the kernel does not have, or scratch
/// memory that was not allocated.
pub fn pack_params(entry: &PtxEntry, buffers: &[u64], scratch: Option<u64>) -> Result<Vec<u64>> {
    entry
        .params
        .iter()
        .map(|p| match *p {
            Param::Buffer(b) => buffers.get(b.0 as usize).copied().ok_or_else(|| {
                launch_error(format!(
                    "entry {}: parameter b{} of {} bound buffers",
                    entry.name,
                    b.0,
                    buffers.len()
                ))
            }),
            Param::Scratch => scratch.ok_or_else(|| {
                launch_error(format!(
                    "entry {}: needs scratch memory but the kernel declares none",
                    entry.name
                ))
            }),
        })
        .collect()
}

/// The launch configuration of `launch` on a device with
/// `multiprocessors` SMs: a 1-D grid of [`Launch::grid_dim`] blocks of
/// `block` threads, no dynamic shared memory.
///
/// # Errors
/// When the block size is 0 or above [`MAX_BLOCK_THREADS`], or the grid is
/// empty or above [`MAX_GRID_BLOCKS`].
pub fn launch_config(launch: &Launch, multiprocessors: u32) -> Result<LaunchConfig> {
    if launch.block == 0 || launch.block > MAX_BLOCK_THREADS {
        return Err(launch_error(format!(
            "block of {} threads (1 to {MAX_BLOCK_THREADS} allowed)",
            launch.block
        )));
    }
    let grid = launch.grid_dim(multiprocessors);
    if grid == 0 || grid > MAX_GRID_BLOCKS {
        return Err(launch_error(format!(
            "grid of {grid} blocks (1 to {MAX_GRID_BLOCKS} allowed)"
        )));
    }
    Ok(LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (launch.block, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Launches `function` (the entry `entry`) on the device's stream.
///
/// # Safety
/// `params` must be the entry's parameters ([`pack_params`]) addressing
/// live device buffers of the dtypes and lengths the kernel was emitted
/// for, outputs not overlapping inputs except where the kernel reads what
/// it writes.
pub(crate) unsafe fn launch(
    device: &GpuDevice,
    function: &CudaFunction,
    entry: &PtxEntry,
    params: &[u64],
) -> Result<()> {
    let cfg = launch_config(&entry.launch, device.info.multiprocessors)?;
    let mut builder = device.stream.launch_builder(function);
    for p in params {
        builder.arg(p);
    }
    // SAFETY: the caller's contract; `params` outlives the call, which
    // copies the argument values when it enqueues the launch.
    unsafe { builder.launch(cfg) }
        .map(|_| ())
        .map_err(|e| device.fail(&format!("launching {}", entry.name), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::BufId;
    use crate::ptx::Grid;

    fn entry(params: Vec<Param>, launch: Launch) -> PtxEntry {
        PtxEntry {
            name: "k0".into(),
            params,
            launch,
        }
    }

    const ONE_BLOCK: Launch = Launch {
        block: 256,
        grid: Grid::Fixed(1),
    };

    #[test]
    fn params_follow_the_entry_order() {
        let e = entry(
            vec![
                Param::Buffer(BufId(2)),
                Param::Scratch,
                Param::Buffer(BufId(0)),
            ],
            ONE_BLOCK,
        );
        assert_eq!(
            pack_params(&e, &[0x1000, 0x2000, 0x3000], Some(0x9000)),
            Ok(vec![0x3000, 0x9000, 0x1000])
        );
    }

    #[test]
    fn missing_buffers_and_scratch_are_errors() {
        let e = entry(vec![Param::Buffer(BufId(3))], ONE_BLOCK);
        let err = pack_params(&e, &[1, 2], None).expect_err("b3 of 2");
        assert!(err.to_string().contains("parameter b3 of 2"), "{err}");
        let e = entry(vec![Param::Scratch], ONE_BLOCK);
        let err = pack_params(&e, &[], None).expect_err("no scratch");
        assert!(err.to_string().contains("needs scratch"), "{err}");
    }

    #[test]
    fn grid_stride_launches_are_capped_per_multiprocessor() {
        let small = Launch {
            block: 256,
            grid: Grid::Stride { work: 1000 },
        };
        // ceil(1000 / 256) = 4 blocks.
        let cfg = launch_config(&small, 132).expect("config");
        assert_eq!((cfg.grid_dim, cfg.block_dim), ((4, 1, 1), (256, 1, 1)));
        assert_eq!(cfg.shared_mem_bytes, 0);
        let big = Launch {
            block: 256,
            grid: Grid::Stride { work: 1 << 28 },
        };
        // 2^28 / 256 = 2^20 blocks wanted, capped at 32 per SM.
        let cfg = launch_config(&big, 132).expect("config");
        assert_eq!(cfg.grid_dim, (132 * 32, 1, 1));
        let empty = Launch {
            block: 128,
            grid: Grid::Stride { work: 0 },
        };
        assert_eq!(
            launch_config(&empty, 8).expect("config").grid_dim,
            (1, 1, 1)
        );
        let fixed = Launch {
            block: 32,
            grid: Grid::Fixed(256),
        };
        assert_eq!(
            launch_config(&fixed, 8).expect("config").grid_dim,
            (256, 1, 1)
        );
    }

    #[test]
    fn impossible_geometry_is_an_error() {
        for (block, grid) in [
            (0, Grid::Fixed(1)),
            (2048, Grid::Fixed(1)),
            (64, Grid::Fixed(0)),
        ] {
            let err = launch_config(&Launch { block, grid }, 1).expect_err("bad geometry");
            assert!(err.to_string().contains("cuda backend"), "{err}");
        }
    }
}
