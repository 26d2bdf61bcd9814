use rjax_codegen::fusion::plan;
use rjax_ir::{AVal, Atom, ClosedJaxpr, DType, JaxprBuilder, Primitive as P, Scalar};
#[test]
fn perf() {
    for n in [100usize, 1000, 3000] {
        let mut b = JaxprBuilder::new();
        let x = b.new_var(AVal::new(DType::F32, &[64, 128]));
        let mut cur = x;
        let mut outs = vec![];
        for i in 0..n {
            let p = match i % 5 { 0 => P::Add, 1 => P::Mul, 2 => P::Max, 3 => P::Sub, _ => P::Div };
            cur = b.add_eqn(p, vec![Atom::Var(cur), Atom::Var(x)], None).unwrap()[0];
            if i % 50 == 49 {
                let r = b.add_eqn(P::ReduceSum { axes: vec![1] }, vec![Atom::Var(cur)], None).unwrap()[0];
                let rb = b.add_eqn(P::BroadcastInDim { shape: [64, 128][..].into(), broadcast_dimensions: vec![0] }, vec![Atom::Var(r)], None).unwrap()[0];
                cur = b.add_eqn(P::Sub, vec![Atom::Var(cur), Atom::Var(rb)], None).unwrap()[0];
                cur = b.add_eqn(P::Exp, vec![Atom::Var(cur)], None).unwrap()[0];
                outs.push(Atom::Var(r));
            }
        }
        let _ = Scalar::F32(0.0);
        outs.push(Atom::Var(cur));
        let j = b.build(vec![], vec![x], outs).unwrap();
        let c = ClosedJaxpr::new(j, vec![]);
        let t = std::time::Instant::now();
        let p = plan(&c).unwrap();
        let lets: usize = p.steps.iter().map(|s| match s { rjax_codegen::program::Step::Kernel { kernel, .. } => kernel.to_string().lines().count(), _ => 0 }).sum();
        println!("n={n} eqns={} steps={} lines={} plan {:?}", c.jaxpr.eqns.len(), p.steps.len(), lets, t.elapsed());
    }
}
