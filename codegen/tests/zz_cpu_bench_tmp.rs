use rjax_codegen::cpu;
use rjax_codegen::kernel::*;
use rjax_codegen::program::*;
use rjax_codegen::Executable;
use rjax_ir::{AVal, DType, HostBuffer, Scalar};
use std::time::Instant;

fn ew_program(n: usize) -> Program {
    let mut kb = KernelBuilder::new();
    let i = kb.lp();
    let idx = Index { offset: 0, terms: vec![(i, 1)], dynamic: None };
    let mut body = Vec::new();
    let a = kb.let_(&mut body, ScalarType::F32, Expr::Load { buf: BufId(0), index: idx.clone() });
    let b = kb.let_(&mut body, ScalarType::F32, Expr::Load { buf: BufId(1), index: idx.clone() });
    let c = kb.let_(&mut body, ScalarType::F32, Expr::Load { buf: BufId(2), index: idx.clone() });
    let m = kb.let_(&mut body, ScalarType::F32, Expr::Binary(BinaryOp::Mul, a, b));
    let s = kb.let_(&mut body, ScalarType::F32, Expr::Binary(BinaryOp::Add, m, c));
    let z = kb.let_(&mut body, ScalarType::F32, Expr::Const(Const::Scalar(Scalar::F32(0.0))));
    let r = kb.let_(&mut body, ScalarType::F32, Expr::Binary(BinaryOp::Max, s, z));
    body.push(Stmt::Store { buf: BufId(3), index: idx, value: r });
    let d = |kind| BufferDecl { dtype: DType::F32, len: n, kind };
    let kernel = Kernel { name: "fma_relu".into(), buffers: vec![d(BufferKind::Input), d(BufferKind::Input), d(BufferKind::Input), d(BufferKind::Output)], body: vec![Stmt::Loop { id: i, extent: n, parallel: true, body }] };
    let pb = |source| ProgramBuffer { dtype: DType::F32, shape: vec![n], source };
    Program { buffers: vec![pb(BufferSource::Argument(0)), pb(BufferSource::Argument(1)), pb(BufferSource::Argument(2)), pb(BufferSource::Temporary)], steps: vec![Step::Kernel { kernel, args: (0..4).map(BufferRef).collect() }], outputs: vec![BufferRef(3)] }
}

#[test]
fn bench() {
    let threads = rayon::current_num_threads();
    // GEMM
    for n in [256usize, 1024] {
        let g = Gemm { dtype: DType::F32, batch: 1, m: n, n, k: n, lhs: (BufferRef(0), [0, n as isize, 1]), rhs: (BufferRef(1), [0, n as isize, 1]), out: BufferRef(2) };
        let pb = |s| ProgramBuffer { dtype: DType::F32, shape: vec![n, n], source: s };
        let p = Program { buffers: vec![pb(BufferSource::Argument(0)), pb(BufferSource::Argument(1)), pb(BufferSource::Temporary)], steps: vec![Step::Gemm(g)], outputs: vec![BufferRef(2)] };
        let av = AVal::new(DType::F32, &[n, n]);
        let exe = cpu::compile_program(&p, &[av.clone(), av]).unwrap();
        let a = HostBuffer::from_vec((0..n * n).map(|i| (i % 7) as f32 * 0.1).collect::<Vec<f32>>(), &[n, n]).unwrap();
        let mut best = f64::MAX;
        let mut prev = exe.run_donated(vec![a.clone(), a.clone()]).unwrap();
        for _ in 0..20 {
            let t = Instant::now();
            let out = exe.run(&[a.clone(), a.clone()]).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            prev = out;
        }
        let _ = prev;
        // exclude the clone: measure clones separately
        let t = Instant::now();
        let _c = (a.clone(), a.clone());
        let clone_t = t.elapsed().as_secs_f64();
        eprintln!("gemm f32 {n}: best {:.3} ms (incl fresh output alloc; clone {:.3} ms) -> {:.1} GFLOP/s ({threads} threads)", best * 1e3, clone_t * 1e3, 2.0 * (n as f64).powi(3) / (best - clone_t) / 1e9);
    }
    // Elementwise 16M
    let n = 16 << 20;
    let p = ew_program(n);
    let av = AVal::new(DType::F32, &[n]);
    let exe = cpu::compile_program(&p, &[av.clone(), av.clone(), av]).unwrap();
    let a = HostBuffer::from_vec((0..n).map(|i| (i % 13) as f32 - 6.0).collect::<Vec<f32>>(), &[n]).unwrap();
    let b = HostBuffer::from_vec((0..n).map(|i| 0.5 + (i % 5) as f32 * 0.1).collect::<Vec<f32>>(), &[n]).unwrap();
    let c = HostBuffer::from_vec((0..n).map(|i| (i % 3) as f32).collect::<Vec<f32>>(), &[n]).unwrap();
    let bytes = 16.0 * n as f64;
    let mut best = f64::MAX;
    for _ in 0..10 {
        let t = Instant::now();
        let out = exe.run(&[a.clone(), b.clone(), c.clone()]);
        let _ = out;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let _c = (a.clone(), b.clone(), c.clone());
    let clone_t = t.elapsed().as_secs_f64();
    drop(_c);
    eprintln!("ew fresh output: best {:.3} ms incl clones {:.3} ms", best * 1e3, clone_t * 1e3);
    // Steady state: donate the previous output as `a`.
    let mut cur = exe.run(&[a.clone(), b.clone(), c.clone()]).unwrap().pop().unwrap();
    let mut best = f64::MAX;
    let mut bclone = 0.0f64;
    for _ in 0..20 {
        let t0 = Instant::now();
        let args = vec![cur, b.clone(), c.clone()];
        let t1 = Instant::now();
        let mut out = exe.run_donated(args).unwrap();
        let dt = t1.elapsed().as_secs_f64();
        bclone = t1.duration_since(t0).as_secs_f64();
        best = best.min(dt);
        cur = out.pop().unwrap();
    }
    eprintln!("ew donated (warm output): best {:.3} ms -> {:.1} GB/s (16 B/elem), arg clones {:.2} ms", best * 1e3, bytes / best / 1e9, bclone * 1e3);
}

#[test]
fn dump() {
    let p = ew_program(1000);
    let av = AVal::new(DType::F32, &[1000]);
    let _ = cpu::compile_program(&p, &[av.clone(), av.clone(), av]).unwrap();
}
