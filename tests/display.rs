//! `Display` for `Array`, checked against NumPy's `str(ndarray)` (what
//! `print(x)` shows in NumPy and JAX) under the default print options.
//!
//! Every expected string below was produced by NumPy 2.4 (`str(np.array(..))`
//! with the same dtype, shape and values), an independent implementation;
//! they are hard-coded so these tests need no Python.

use rjax::{make_jaxpr, Array};
use rjax_ir::Element;
use std::cell::RefCell;

/// An array of `T` from row-major values.
fn arr<T: Element>(values: &[T], shape: &[usize]) -> Array {
    Array::from_vec(values.to_vec(), shape).unwrap()
}

/// Asserts that `x` prints as NumPy printed the same array.
#[track_caller]
fn check(x: Array, numpy: &str) {
    assert_eq!(
        x.to_string(),
        numpy,
        "\n--- ours:\n{x}\n--- numpy:\n{numpy}\n"
    );
}

/// Fractional parts padded with spaces so points align.
#[test]
fn f32_vector_aligns_decimal_points() {
    check(arr::<f32>(&[1.0, 2.5, 3.0], &[3]), "[1.  2.5 3. ]");
}

/// Sign column shared by the matrix.
#[test]
fn f32_matrix_with_negatives() {
    check(
        arr::<f32>(&[1.0, -2.5, 3.25, 4.0], &[2, 2]),
        "[[ 1.   -2.5 ]\n [ 3.25  4.  ]]",
    );
}

/// All-integral floats print as `1.`.
#[test]
fn integral_floats_print_bare_point() {
    check(arr::<f32>(&[1.0, -2.0, 30.0], &[3]), "[ 1. -2. 30.]");
}

/// Digits are the shortest that round-trip in f32, not f64.
#[test]
fn f32_digits_are_f32_shortest() {
    check(
        arr::<f32>(&[0.33333334, 0.1, 1.0], &[3]),
        "[0.33333334 0.1        1.        ]",
    );
}

/// Longer f64 digits are rounded to 8 decimals.
#[test]
fn f64_capped_at_8_digits() {
    check(
        arr::<f64>(&[0.3333333333333333, 0.1, 0.123456789], &[3]),
        "[0.33333333 0.1        0.12345679]",
    );
}

/// f64 values with short representations.
#[test]
fn f64_short_digits() {
    check(
        arr::<f64>(&[0.5, 0.25, 100.125], &[3]),
        "[  0.5     0.25  100.125]",
    );
}

/// `-0.` keeps its sign.
#[test]
fn negative_zero() {
    check(arr::<f64>(&[-0.0, 1.5], &[2]), "[-0.   1.5]");
}

/// Dragon4 rounds ties to even (-288865.625 prints as .62).
#[test]
fn tie_rounds_to_even() {
    check(
        arr::<f32>(&[-288_865.0 - 0.625, 100000.5], &[2]),
        "[-288865.62  100000.5 ]",
    );
}

/// Integers right-aligned to the widest.
#[test]
fn i32_right_aligned() {
    check(arr::<i32>(&[1, -2, 30], &[3]), "[ 1 -2 30]");
}

/// Integer matrix.
#[test]
fn i32_matrix() {
    check(
        arr::<i32>(&[-1000, 5, 7, 12], &[2, 2]),
        "[[-1000     5]\n [    7    12]]",
    );
}

/// u32 up to its maximum.
#[test]
fn u32_large() {
    check(
        arr::<u32>(&[0, 7, 4294967295], &[3]),
        "[         0          7 4294967295]",
    );
}

/// Booleans pad `True` to the width of `False`.
#[test]
fn bool_vector() {
    check(
        arr::<bool>(&[true, false, true], &[3]),
        "[ True False  True]",
    );
}

/// Boolean matrix.
#[test]
fn bool_matrix() {
    check(
        arr::<bool>(&[true, true, false, true], &[2, 2]),
        "[[ True  True]\n [False  True]]",
    );
}

/// Magnitudes of 1e8 and above switch to scientific.
#[test]
fn scientific_large() {
    check(arr::<f64>(&[10000000000.0, 1.0], &[2]), "[1.e+10 1.e+00]");
}

/// Nonzero magnitudes below 1e-4 switch to scientific.
#[test]
fn scientific_small() {
    check(arr::<f64>(&[1.5e-05, -2.0], &[2]), "[ 1.5e-05 -2.0e+00]");
}

/// A max/min ratio above 1000 switches to scientific (NumPy rule beyond the brief).
#[test]
fn scientific_ratio() {
    check(arr::<f64>(&[0.001, 2.0], &[2]), "[1.e-03 2.e+00]");
}

/// For f32 the large cutoff is 1e6 (NumPy: 10**min(8, finfo.precision)).
#[test]
fn scientific_f32_cutoff() {
    check(arr::<f32>(&[1e+06, 2.0], &[2]), "[1.e+06 2.e+00]");
}

/// f64 stays positional below 1e8.
#[test]
fn f64_below_cutoff_is_positional() {
    check(
        arr::<f64>(&[1000000.0, 12345678.0], &[2]),
        "[ 1000000. 12345678.]",
    );
}

/// Exponents share a width: `e+100`, `e-005`.
#[test]
fn scientific_three_digit_exponent() {
    check(arr::<f64>(&[1e+100, 1e-05], &[2]), "[1.e+100 1.e-005]");
}

/// Scientific mantissas padded with exact digits to a common precision.
#[test]
fn scientific_exact_digits_pad() {
    check(
        arr::<f32>(&[831830784.0, 1.1920929e-07], &[2]),
        "[8.3183078e+08 1.1920929e-07]",
    );
}

/// nan/inf right-aligned in the common width.
#[test]
fn nan_and_inf() {
    check(
        arr::<f64>(&[1.5, f64::NAN, -f64::INFINITY], &[3]),
        "[ 1.5  nan -inf]",
    );
}

/// Only non-finite values.
#[test]
fn only_non_finite() {
    check(arr::<f32>(&[f32::NAN, f32::INFINITY], &[2]), "[nan inf]");
}

/// Room for `-inf`.
#[test]
fn only_nan_and_neg_inf() {
    check(arr::<f32>(&[f32::NAN, -f32::INFINITY], &[2]), "[ nan -inf]");
}

/// nan/inf alongside scientific values.
#[test]
fn scientific_with_nan() {
    check(
        arr::<f64>(&[10000000000.0, f64::NAN, -f64::INFINITY], &[3]),
        "[1.e+10    nan   -inf]",
    );
}

/// All zeros.
#[test]
fn zeros() {
    check(arr::<f64>(&[0.0, 0.0, 0.0], &[3]), "[0. 0. 0.]");
}

/// Blank line between 2-D blocks.
#[test]
fn rank3_blocks() {
    check(
        arr(&(0..24).collect::<Vec<i32>>(), &[2, 3, 4]),
        concat!(
            "[[[ 0  1  2  3]\n",
            "  [ 4  5  6  7]\n",
            "  [ 8  9 10 11]]\n",
            "\n",
            " [[12 13 14 15]\n",
            "  [16 17 18 19]\n",
            "  [20 21 22 23]]]",
        ),
    );
}

/// Two blank lines between 3-D blocks.
#[test]
fn rank4_two_blank_lines() {
    check(
        arr(&(0..16).collect::<Vec<i32>>(), &[2, 2, 2, 2]),
        concat!(
            "[[[[ 0  1]\n",
            "   [ 2  3]]\n",
            "\n",
            "  [[ 4  5]\n",
            "   [ 6  7]]]\n",
            "\n",
            "\n",
            " [[[ 8  9]\n",
            "   [10 11]]\n",
            "\n",
            "  [[12 13]\n",
            "   [14 15]]]]",
        ),
    );
}

/// Rank-3 floats.
#[test]
fn rank3_floats() {
    check(
        arr(
            &(0..12).map(|i| (i as f32 - 5.5) / 2.0).collect::<Vec<_>>(),
            &[3, 2, 2],
        ),
        concat!(
            "[[[-2.75 -2.25]\n",
            "  [-1.75 -1.25]]\n",
            "\n",
            " [[-0.75 -0.25]\n",
            "  [ 0.25  0.75]]\n",
            "\n",
            " [[ 1.25  1.75]\n",
            "  [ 2.25  2.75]]]",
        ),
    );
}

/// Unit dimensions.
#[test]
fn nested_singletons() {
    check(arr::<f32>(&[5.0], &[1, 1, 1]), "[[[5.]]]");
}

/// Rows longer than 75 columns wrap, continuation indented.
#[test]
fn wrap_long_row() {
    check(
        arr(&(0..30).map(f64::from).collect::<Vec<_>>(), &[30]),
        concat!(
            "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n",
            " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]",
        ),
    );
}

/// Wrapped rows inside a matrix.
#[test]
fn wrap_rows_of_matrix() {
    check(
        arr(
            &(0..40).map(|i| f64::from(i) * 1.25).collect::<Vec<_>>(),
            &[2, 20],
        ),
        concat!(
            "[[ 0.    1.25  2.5   3.75  5.    6.25  7.5   8.75 10.   11.25 12.5  13.75\n",
            "  15.   16.25 17.5  18.75 20.   21.25 22.5  23.75]\n",
            " [25.   26.25 27.5  28.75 30.   31.25 32.5  33.75 35.   36.25 37.5  38.75\n",
            "  40.   41.25 42.5  43.75 45.   46.25 47.5  48.75]]",
        ),
    );
}

/// More than 1000 elements: 3 edge items each side.
#[test]
fn summarise_vector() {
    check(
        arr(&(0..2000).collect::<Vec<i32>>(), &[2000]),
        "[   0    1    2 ... 1997 1998 1999]",
    );
}

/// Summarisation applies per axis; widths come from the shown elements.
#[test]
fn summarise_matrix() {
    check(
        arr(
            &(0..1500).map(|i| i as f32 / 4.0).collect::<Vec<_>>(),
            &[50, 30],
        ),
        concat!(
            "[[0.0000e+00 2.5000e-01 5.0000e-01 ... 6.7500e+00 7.0000e+00 7.2500e+00]\n",
            " [7.5000e+00 7.7500e+00 8.0000e+00 ... 1.4250e+01 1.4500e+01 1.4750e+01]\n",
            " [1.5000e+01 1.5250e+01 1.5500e+01 ... 2.1750e+01 2.2000e+01 2.2250e+01]\n",
            " ...\n",
            " [3.5250e+02 3.5275e+02 3.5300e+02 ... 3.5925e+02 3.5950e+02 3.5975e+02]\n",
            " [3.6000e+02 3.6025e+02 3.6050e+02 ... 3.6675e+02 3.6700e+02 3.6725e+02]\n",
            " [3.6750e+02 3.6775e+02 3.6800e+02 ... 3.7425e+02 3.7450e+02 3.7475e+02]]",
        ),
    );
}

/// Summarised rank-3 array: `...` lines between blocks.
#[test]
fn summarise_rank3() {
    check(
        arr(&(0..2000).collect::<Vec<i32>>(), &[10, 10, 20]),
        concat!(
            "[[[   0    1    2 ...   17   18   19]\n",
            "  [  20   21   22 ...   37   38   39]\n",
            "  [  40   41   42 ...   57   58   59]\n",
            "  ...\n",
            "  [ 140  141  142 ...  157  158  159]\n",
            "  [ 160  161  162 ...  177  178  179]\n",
            "  [ 180  181  182 ...  197  198  199]]\n",
            "\n",
            " [[ 200  201  202 ...  217  218  219]\n",
            "  [ 220  221  222 ...  237  238  239]\n",
            "  [ 240  241  242 ...  257  258  259]\n",
            "  ...\n",
            "  [ 340  341  342 ...  357  358  359]\n",
            "  [ 360  361  362 ...  377  378  379]\n",
            "  [ 380  381  382 ...  397  398  399]]\n",
            "\n",
            " [[ 400  401  402 ...  417  418  419]\n",
            "  [ 420  421  422 ...  437  438  439]\n",
            "  [ 440  441  442 ...  457  458  459]\n",
            "  ...\n",
            "  [ 540  541  542 ...  557  558  559]\n",
            "  [ 560  561  562 ...  577  578  579]\n",
            "  [ 580  581  582 ...  597  598  599]]\n",
            "\n",
            " ...\n",
            "\n",
            " [[1400 1401 1402 ... 1417 1418 1419]\n",
            "  [1420 1421 1422 ... 1437 1438 1439]\n",
            "  [1440 1441 1442 ... 1457 1458 1459]\n",
            "  ...\n",
            "  [1540 1541 1542 ... 1557 1558 1559]\n",
            "  [1560 1561 1562 ... 1577 1578 1579]\n",
            "  [1580 1581 1582 ... 1597 1598 1599]]\n",
            "\n",
            " [[1600 1601 1602 ... 1617 1618 1619]\n",
            "  [1620 1621 1622 ... 1637 1638 1639]\n",
            "  [1640 1641 1642 ... 1657 1658 1659]\n",
            "  ...\n",
            "  [1740 1741 1742 ... 1757 1758 1759]\n",
            "  [1760 1761 1762 ... 1777 1778 1779]\n",
            "  [1780 1781 1782 ... 1797 1798 1799]]\n",
            "\n",
            " [[1800 1801 1802 ... 1817 1818 1819]\n",
            "  [1820 1821 1822 ... 1837 1838 1839]\n",
            "  [1840 1841 1842 ... 1857 1858 1859]\n",
            "  ...\n",
            "  [1940 1941 1942 ... 1957 1958 1959]\n",
            "  [1960 1961 1962 ... 1977 1978 1979]\n",
            "  [1980 1981 1982 ... 1997 1998 1999]]]",
        ),
    );
}

/// Axes of length <= 6 are not summarised.
#[test]
fn summarise_short_axis_kept() {
    check(
        arr(&(0..2002).collect::<Vec<i32>>(), &[2, 1001]),
        "[[   0    1    2 ...  998  999 1000]\n [1001 1002 1003 ... 1999 2000 2001]]",
    );
}

/// Empty arrays print `[]`.
#[test]
fn empty_vector() {
    check(arr::<f32>(&[], &[0]), "[]");
}

/// Any zero dimension prints `[]`.
#[test]
fn empty_matrix() {
    check(arr::<f32>(&[], &[2, 0]), "[]");
}

/// Rank 0 prints the scalar: `1.0`, not `1.`.
#[test]
fn scalar_f32_one() {
    check(arr::<f32>(&[1.0], &[]), "1.0");
}

/// Rank-0 f32.
#[test]
fn scalar_f32_fraction() {
    check(arr::<f32>(&[2.5], &[]), "2.5");
}

/// Rank-0 floats are not capped at 8 digits.
#[test]
fn scalar_f64_uncapped() {
    check(arr::<f64>(&[0.3333333333333333], &[]), "0.3333333333333333");
}

/// Rank-0 f32 is scientific from 1e6 (NumPy scalar rule).
#[test]
fn scalar_f32_scientific() {
    check(arr::<f32>(&[1e+10], &[]), "1e+10");
}

/// Rank-0 f64 stays positional below 1e16.
#[test]
fn scalar_f64_positional_large() {
    check(arr::<f64>(&[10000000000.0], &[]), "10000000000.0");
}

/// Rank-0 small values in scientific, no padding zeros.
#[test]
fn scalar_f64_small() {
    check(arr::<f64>(&[1.5e-05], &[]), "1.5e-05");
}

/// Rank-0 nan.
#[test]
fn scalar_nan() {
    check(arr::<f64>(&[f64::NAN], &[]), "nan");
}

/// Rank-0 -inf.
#[test]
fn scalar_neg_inf() {
    check(arr::<f32>(&[-f32::INFINITY], &[]), "-inf");
}

/// Rank-0 integer.
#[test]
fn scalar_i32() {
    check(arr::<i32>(&[3], &[]), "3");
}

/// Rank-0 bool has no padding.
#[test]
fn scalar_bool() {
    check(arr::<bool>(&[true], &[]), "True");
}

/// Rank-0 scalars round ties to even too, and f64 switches to scientific at 1e16.
#[test]
fn scalar_tie_and_f64_cutoff() {
    check(arr::<f32>(&[-288_865.0 - 0.625], &[]), "-288865.62");
    check(arr::<f32>(&[2.5e-7], &[]), "2.5e-07");
    check(arr::<f64>(&[1e16], &[]), "1e+16");
}

/// `Debug` wraps the NumPy text with the dtype.
#[test]
fn debug_shows_dtype() {
    let x = arr::<f32>(&[1.0, 2.5], &[2]);
    assert_eq!(format!("{x:?}"), "Array([1.  2.5], dtype=f32)");
}

/// A tracer has no values: it prints its abstract value.
#[test]
fn tracer_prints_aval() {
    let seen = RefCell::new(String::new());
    let trace = make_jaxpr(|x: &Array| {
        *seen.borrow_mut() = x.to_string();
        x.clone()
    });
    trace(&arr::<f32>(&[0.0; 6], &[2, 3])).unwrap();
    assert_eq!(*seen.borrow(), "Traced<f32[2,3]>");
}
