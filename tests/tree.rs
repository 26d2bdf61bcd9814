//! Pytrees: flatten/unflatten round trips for every `Tree` impl, nested
//! combinations, `#[derive(Tree)]` (static fields, generics, enums), structure
//! strings, and the errors and panics of `tree_unflatten` / `tree_map2`.

use std::collections::BTreeMap;

use rjax::tree::{tree_num_leaves, try_tree_map, try_tree_map2};
use rjax::{
    tree_leaves, tree_map, tree_map2, tree_structure, tree_unflatten, Array, Tree, TreeDef,
};
use rjax_ir::Error;

/// A 1-D f32 array holding `values`.
fn arr(values: &[f32]) -> Array {
    Array::from_vec(values.to_vec(), &[values.len()]).unwrap()
}

/// A scalar-shaped f32 array.
fn s(x: f32) -> Array {
    Array::from_vec(vec![x], &[]).unwrap()
}

fn vals(a: &Array) -> Vec<f32> {
    a.to_vec::<f32>().unwrap()
}

fn all_vals(leaves: &[Array]) -> Vec<Vec<f32>> {
    leaves.iter().map(vals).collect()
}

/// `n` fresh scalar leaves 100, 101, ...
fn fresh(n: usize) -> Vec<Array> {
    (0..n).map(|i| s(100.0 + i as f32)).collect()
}

/// Flattens `t`, checks the leaves and structure, rebuilds it from fresh
/// leaves and checks that the rebuilt tree has the same structure and carries
/// the fresh leaves in order. Returns the rebuilt tree.
fn round_trip<T: Tree>(t: &T, expect_leaves: &[&[f32]], expect_structure: &str) -> T {
    let leaves = tree_leaves(t);
    let expect: Vec<Vec<f32>> = expect_leaves.iter().map(|v| v.to_vec()).collect();
    assert_eq!(all_vals(&leaves), expect);
    assert_eq!(tree_num_leaves(t), expect_leaves.len());
    assert_eq!(tree_structure(t).to_string(), expect_structure);

    // Same leaves back: same tree.
    let same = tree_unflatten(t, leaves).unwrap();
    assert_eq!(all_vals(&tree_leaves(&same)), expect);

    // Fresh leaves: same structure, new values, in order.
    let n = expect_leaves.len();
    let rebuilt = tree_unflatten(t, fresh(n)).unwrap();
    assert_eq!(tree_structure(&rebuilt), tree_structure(t));
    let want: Vec<Vec<f32>> = (0..n).map(|i| vec![100.0 + i as f32]).collect();
    assert_eq!(all_vals(&tree_leaves(&rebuilt)), want);
    rebuilt
}

fn op_error(e: Error) -> (String, String) {
    match e {
        Error::Op { op, message } => (op, message),
        other => panic!("expected Error::Op, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Built-in impls
// ---------------------------------------------------------------------------

#[test]
fn array_is_one_leaf() {
    let a = arr(&[1.0, 2.0, 3.0]);
    let b = round_trip(&a, &[&[1.0, 2.0, 3.0]], "*");
    assert_eq!(b.shape(), &[] as &[usize]);
}

#[test]
fn unit_has_no_leaves() {
    round_trip(&(), &[], "()");
}

#[test]
fn tuples_of_every_arity() {
    round_trip(&(s(1.0),), &[&[1.0]], "(*,)");
    round_trip(&(s(1.0), s(2.0)), &[&[1.0], &[2.0]], "(*,*)");
    round_trip(
        &(s(1.0), s(2.0), s(3.0)),
        &[&[1.0], &[2.0], &[3.0]],
        "(*,*,*)",
    );
    round_trip(
        &(s(1.0), s(2.0), s(3.0), s(4.0)),
        &[&[1.0], &[2.0], &[3.0], &[4.0]],
        "(*,*,*,*)",
    );
    round_trip(
        &(s(1.0), s(2.0), s(3.0), s(4.0), s(5.0)),
        &[&[1.0], &[2.0], &[3.0], &[4.0], &[5.0]],
        "(*,*,*,*,*)",
    );
    round_trip(
        &(s(1.0), s(2.0), s(3.0), s(4.0), s(5.0), s(6.0)),
        &[&[1.0], &[2.0], &[3.0], &[4.0], &[5.0], &[6.0]],
        "(*,*,*,*,*,*)",
    );
    round_trip(
        &(s(1.0), s(2.0), s(3.0), s(4.0), s(5.0), s(6.0), s(7.0)),
        &[&[1.0], &[2.0], &[3.0], &[4.0], &[5.0], &[6.0], &[7.0]],
        "(*,*,*,*,*,*,*)",
    );
    let t8 = round_trip(
        &(
            s(1.0),
            s(2.0),
            s(3.0),
            s(4.0),
            s(5.0),
            s(6.0),
            s(7.0),
            s(8.0),
        ),
        &[
            &[1.0],
            &[2.0],
            &[3.0],
            &[4.0],
            &[5.0],
            &[6.0],
            &[7.0],
            &[8.0],
        ],
        "(*,*,*,*,*,*,*,*)",
    );
    assert_eq!(vals(&t8.7), vec![107.0]);
}

#[test]
fn vec_keeps_length_and_order() {
    let v = vec![arr(&[1.0, 2.0]), arr(&[3.0])];
    let r = round_trip(&v, &[&[1.0, 2.0], &[3.0]], "[*,*]");
    assert_eq!(r.len(), 2);
    round_trip(&Vec::<Array>::new(), &[], "[]");
}

#[test]
fn fixed_size_array() {
    let a = [s(1.0), s(2.0), s(3.0)];
    let r = round_trip(&a, &[&[1.0], &[2.0], &[3.0]], "[*,*,*]");
    assert_eq!(vals(&r[2]), vec![102.0]);
    round_trip(&[(); 0], &[], "[]");
}

#[test]
fn option_none_has_no_leaves() {
    let some = Some(arr(&[1.0, 2.0]));
    let r = round_trip(&some, &[&[1.0, 2.0]], "Some(*)");
    assert!(r.is_some());
    let none: Option<Array> = None;
    let r = round_trip(&none, &[], "None");
    assert!(r.is_none());
}

#[test]
fn btreemap_in_key_order() {
    let mut m = BTreeMap::new();
    m.insert("b".to_string(), s(2.0));
    m.insert("a".to_string(), s(1.0));
    let r = round_trip(&m, &[&[1.0], &[2.0]], "{a:*,b:*}");
    assert_eq!(vals(&r["a"]), vec![100.0]);
    assert_eq!(vals(&r["b"]), vec![101.0]);
    round_trip(&BTreeMap::<String, Array>::new(), &[], "{}");
}

#[test]
fn btreemap_odd_keys_are_quoted() {
    // A key containing `:` and `,` must not print like two keys.
    let mut odd = BTreeMap::new();
    odd.insert("a:*,b".to_string(), s(1.0));
    let mut two = BTreeMap::new();
    two.insert("a".to_string(), s(1.0));
    two.insert("b".to_string(), s(1.0));
    assert_eq!(tree_structure(&odd).to_string(), "{\"a:*,b\":*}");
    assert_ne!(tree_structure(&odd), tree_structure(&two));
}

#[test]
fn box_is_transparent() {
    let b = Box::new((s(1.0), s(2.0)));
    let r = round_trip(&b, &[&[1.0], &[2.0]], "(*,*)");
    assert_eq!(vals(&r.1), vec![101.0]);
}

#[test]
fn nested_combinations() {
    let mut m = BTreeMap::new();
    m.insert("a".to_string(), vec![Some(s(3.0)), None]);
    m.insert("b".to_string(), vec![]);
    let t = (
        s(1.0),
        vec![(s(2.0), ()), (arr(&[4.0, 5.0]), ())],
        m,
        Box::new([Some(s(6.0)), Some(s(6.0))]),
    );
    let r = round_trip(
        &t,
        &[&[1.0], &[2.0], &[4.0, 5.0], &[3.0], &[6.0], &[6.0]],
        "(*,[(*,()),(*,())],{a:[Some(*),None],b:[]},[Some(*),Some(*)])",
    );
    assert_eq!(vals(&r.2["a"][0].clone().unwrap()), vec![103.0]);
    assert!(r.2["a"][1].is_none());
    assert_eq!(vals(r.3[1].as_ref().unwrap()), vec![105.0]);
}

#[test]
fn leaves_keep_dtype_and_shape() {
    let i = Array::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
    let b = Array::from_vec(vec![true, false], &[2]).unwrap();
    let leaves = tree_leaves(&(i, b));
    assert_eq!(leaves[0].shape(), &[2, 2]);
    assert_eq!(leaves[0].to_vec::<i32>().unwrap(), vec![1, 2, 3, 4]);
    assert_eq!(leaves[1].to_vec::<bool>().unwrap(), vec![true, false]);
}

// ---------------------------------------------------------------------------
// Structure strings
// ---------------------------------------------------------------------------

#[test]
fn structure_differs_with_vec_length() {
    let a = vec![s(1.0), s(2.0)];
    let b = vec![s(1.0), s(2.0), s(3.0)];
    assert_ne!(tree_structure(&a), tree_structure(&b));
    // ... but not with leaf values or shapes.
    let c = vec![arr(&[9.0, 9.0, 9.0]), s(0.0)];
    assert_eq!(tree_structure(&a), tree_structure(&c));
}

#[test]
fn treedef_is_hashable_and_displayable() {
    use std::collections::HashSet;
    let d: TreeDef = tree_structure(&(s(1.0), vec![s(2.0)]));
    assert_eq!(format!("{d}"), "(*,[*])");
    assert_eq!(d.as_str(), "(*,[*])");
    assert!(format!("{d:?}").contains("(*,[*])"));
    let mut set = HashSet::new();
    set.insert(d.clone());
    assert!(set.contains(&tree_structure(&(s(5.0), vec![s(6.0)]))));
    assert!(!set.contains(&tree_structure(&(s(5.0), Vec::<Array>::new()))));
}

// ---------------------------------------------------------------------------
// tree_unflatten errors
// ---------------------------------------------------------------------------

#[test]
fn unflatten_too_few_leaves() {
    let t = (s(1.0), vec![s(2.0), s(3.0)]);
    let e = tree_unflatten(&t, fresh(2)).expect_err("too few leaves must fail");
    let (op, message) = op_error(e);
    assert_eq!(op, "tree_unflatten");
    assert!(message.contains("(*,[*,*])"), "{message}");
    assert!(message.contains("3 leaves"), "{message}");
    assert!(message.contains("2 were given"), "{message}");
}

#[test]
fn unflatten_too_many_leaves() {
    let t = (s(1.0), vec![s(2.0), s(3.0)]);
    let e = tree_unflatten(&t, fresh(4)).expect_err("too many leaves must fail");
    let (op, message) = op_error(e);
    assert_eq!(op, "tree_unflatten");
    assert!(message.contains("3 leaves"), "{message}");
    assert!(message.contains("4 were given"), "{message}");
}

#[test]
fn unflatten_from_reports_exhausted_iterator() {
    let t = vec![s(1.0), s(2.0)];
    let mut it = fresh(1).into_iter();
    let e = t.unflatten_from(&mut it).expect_err("must run out");
    assert_eq!(op_error(e).0, "tree_unflatten");
}

// ---------------------------------------------------------------------------
// tree_map / tree_map2
// ---------------------------------------------------------------------------

#[test]
fn tree_map_applies_to_every_leaf() {
    let t = (arr(&[1.0, 2.0]), vec![s(3.0)], None::<Array>);
    let doubled = tree_map(&t, |x| {
        let v: Vec<f32> = vals(x).iter().map(|y| y * 2.0).collect();
        Array::from_vec(v, x.shape()).unwrap()
    });
    assert_eq!(vals(&doubled.0), vec![2.0, 4.0]);
    assert_eq!(vals(&doubled.1[0]), vec![6.0]);
    assert!(doubled.2.is_none());
}

#[test]
fn try_tree_map_stops_at_error() {
    let t = vec![s(1.0), s(2.0)];
    let ok = try_tree_map(&t, |x| Ok(x.clone())).unwrap();
    assert_eq!(ok.len(), 2);
    let e = try_tree_map(&t, |_| Err(Error::op("boom", "no")))
        .err()
        .unwrap();
    assert_eq!(op_error(e).0, "boom");
}

fn add(x: &Array, y: &Array) -> Array {
    let v: Vec<f32> = vals(x).iter().zip(vals(y)).map(|(a, b)| a + b).collect();
    Array::from_vec(v, x.shape()).unwrap()
}

#[test]
fn tree_map2_combines_corresponding_leaves() {
    let a = (s(1.0), vec![arr(&[1.0, 2.0])]);
    let b = (s(10.0), vec![arr(&[20.0, 30.0])]);
    let c = tree_map2(&a, &b, add);
    assert_eq!(vals(&c.0), vec![11.0]);
    assert_eq!(vals(&c.1[0]), vec![21.0, 32.0]);
}

#[test]
fn tree_map2_mismatch_panics_naming_both() {
    let payload = std::panic::catch_unwind(|| tree_map2(&vec![s(1.0), s(2.0)], &vec![s(1.0)], add))
        .expect_err("tree_map2 of mismatched trees must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        message,
        "tree_map2: tree structures differ: first is [*,*], second is [*]"
    );
}

#[test]
fn try_tree_map2_mismatch_is_an_error() {
    let a = Some(s(1.0));
    let b = None;
    let e = try_tree_map2(&a, &b, add).err().unwrap();
    let (op, message) = op_error(e);
    assert_eq!(op, "tree_map2");
    assert!(
        message.contains("Some(*)") && message.contains("None"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// #[derive(Tree)]
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Activation {
    Relu,
    Tanh,
}

#[derive(Clone, Tree)]
struct Linear {
    w: Array,
    b: Option<Array>,
    #[tree(static)]
    act: Activation,
    #[tree(static)]
    width: usize,
}

fn linear(w: f32, b: Option<f32>, act: Activation) -> Linear {
    Linear {
        w: s(w),
        b: b.map(s),
        act,
        width: 4,
    }
}

#[test]
fn derive_named_struct_with_static_fields() {
    let l = linear(1.0, Some(2.0), Activation::Tanh);
    let r = round_trip(
        &l,
        &[&[1.0], &[2.0]],
        "Linear{w:*,b:Some(*),act:Tanh,width:4}",
    );
    assert_eq!(vals(&r.w), vec![100.0]);
    assert_eq!(vals(r.b.as_ref().unwrap()), vec![101.0]);
    // Static fields are copied from the template.
    assert_eq!(r.act, Activation::Tanh);
    assert_eq!(r.width, 4);
}

#[test]
fn static_fields_change_the_structure() {
    let relu = linear(1.0, None, Activation::Relu);
    let tanh = linear(1.0, None, Activation::Tanh);
    assert_eq!(
        tree_structure(&relu).to_string(),
        "Linear{w:*,b:None,act:Relu,width:4}"
    );
    assert_ne!(tree_structure(&relu), tree_structure(&tanh));
    let mut wide = relu.clone();
    wide.width = 8;
    assert_ne!(tree_structure(&relu), tree_structure(&wide));
    // Leaf values do not.
    assert_eq!(
        tree_structure(&relu),
        tree_structure(&linear(7.0, None, Activation::Relu))
    );
    // tree_map2 refuses trees that differ only in a static field.
    let e = try_tree_map2(&relu, &tanh, add).err().unwrap();
    let (_, message) = op_error(e);
    assert!(
        message.contains("act:Relu") && message.contains("act:Tanh"),
        "{message}"
    );
}

#[derive(Clone, Tree)]
struct Pair(Array, #[tree(static)] &'static str, Vec<Array>);

#[derive(Clone, Debug, PartialEq, Tree)]
struct Marker;

#[test]
fn derive_tuple_and_unit_structs() {
    let p = Pair(s(1.0), "tag", vec![s(2.0), s(3.0)]);
    let r = round_trip(&p, &[&[1.0], &[2.0], &[3.0]], "Pair(*,\"tag\",[*,*])");
    assert_eq!(r.1, "tag");
    assert_eq!(vals(&r.2[1]), vec![102.0]);

    let m = round_trip(&Marker, &[], "Marker");
    assert_eq!(m, Marker);
}

#[derive(Clone, Tree)]
struct Mlp<L> {
    layers: Vec<L>,
    #[tree(static)]
    name: String,
}

#[derive(Clone, Tree)]
struct Wrapper<T, C: Clone + std::fmt::Debug, const N: usize> {
    inner: [T; N],
    #[tree(static)]
    config: C,
}

#[derive(Clone, Tree)]
struct Params<'a, T> {
    value: T,
    #[tree(static)]
    label: &'a str,
    #[tree(static)]
    meta: std::marker::PhantomData<T>,
}

#[test]
fn derive_with_generics() {
    let mlp = Mlp {
        layers: vec![
            linear(1.0, Some(2.0), Activation::Relu),
            linear(3.0, None, Activation::Tanh),
        ],
        name: "mlp".to_string(),
    };
    let r = round_trip(
        &mlp,
        &[&[1.0], &[2.0], &[3.0]],
        "Mlp{layers:[Linear{w:*,b:Some(*),act:Relu,width:4},\
         Linear{w:*,b:None,act:Tanh,width:4}],name:\"mlp\"}",
    );
    assert_eq!(r.name, "mlp");
    assert_eq!(vals(&r.layers[1].w), vec![102.0]);

    let w = Wrapper {
        inner: [(s(1.0), s(2.0)), (s(1.0), s(2.0))],
        config: (1u8, "x"),
    };
    let r = round_trip(
        &w,
        &[&[1.0], &[2.0], &[1.0], &[2.0]],
        "Wrapper{inner:[(*,*),(*,*)],config:(1, \"x\")}",
    );
    assert_eq!(r.config, (1, "x"));

    let label = String::from("p");
    let p = Params {
        value: Some(s(1.0)),
        label: &label,
        meta: std::marker::PhantomData,
    };
    let structure = tree_structure(&p).to_string();
    assert!(
        structure.starts_with("Params{value:Some(*),label:\"p\",meta:PhantomData"),
        "{structure}"
    );
    let r = tree_unflatten(&p, fresh(1)).unwrap();
    assert_eq!(r.label, "p");
    assert_eq!(vals(r.value.as_ref().unwrap()), vec![100.0]);
}

#[derive(Clone, Tree)]
enum Layer {
    Dense { w: Array, b: Array },
    Scale(Array, #[tree(static)] f64),
    Identity,
}

#[test]
fn derive_enum() {
    let dense = Layer::Dense {
        w: s(1.0),
        b: s(2.0),
    };
    let r = round_trip(&dense, &[&[1.0], &[2.0]], "Layer::Dense{w:*,b:*}");
    assert!(matches!(r, Layer::Dense { .. }));

    let scale = Layer::Scale(s(3.0), 0.5);
    let r = round_trip(&scale, &[&[3.0]], "Layer::Scale(*,0.5)");
    match r {
        Layer::Scale(a, f) => {
            assert_eq!(vals(&a), vec![100.0]);
            assert_eq!(f, 0.5);
        }
        _ => panic!("variant changed"),
    }

    let r = round_trip(&Layer::Identity, &[], "Layer::Identity");
    assert!(matches!(r, Layer::Identity));

    let model = vec![dense, scale, Layer::Identity];
    assert_eq!(
        tree_structure(&model).to_string(),
        "[Layer::Dense{w:*,b:*},Layer::Scale(*,0.5),Layer::Identity]"
    );
}

#[test]
fn derived_trees_nest_in_builtin_containers() {
    let mut m = BTreeMap::new();
    m.insert(
        "enc".to_string(),
        Box::new(linear(1.0, None, Activation::Relu)),
    );
    m.insert(
        "dec".to_string(),
        Box::new(linear(2.0, Some(3.0), Activation::Tanh)),
    );
    let r = round_trip(
        &(m, Marker),
        &[&[2.0], &[3.0], &[1.0]],
        "({dec:Linear{w:*,b:Some(*),act:Tanh,width:4},enc:Linear{w:*,b:None,act:Relu,width:4}},Marker)",
    );
    assert_eq!(vals(&r.0["enc"].w), vec![102.0]);
}
