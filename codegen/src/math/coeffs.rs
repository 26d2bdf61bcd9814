//! Coefficient tables of the expansions.
//!
//! Every polynomial is a minimax fit computed for this crate by Remez
//! exchange in 60-digit arithmetic (mpmath) and rounded to the target
//! precision; the error quoted with each table is the fit's maximum absolute
//! error, in the polynomial's own variable, re-measured with the rounded
//! coefficients. `coefficients.py` beside this file regenerates every table
//! (`python3 coefficients.py`, needs mpmath and numpy). `f32` tables hold
//! values exactly representable in `f32` (a unit test checks this), written
//! as the `f64` literals of those values. Coefficients are listed from the
//! constant term up.

/// f32: q(r) = (e^r - 1 - r) / r^2 on |r| <= 0.35, so that e^r = 1 + r + r^2 q(r). Fit error 2^-27.75.
pub(super) const EXP_Q_F32: [f64; 6] = [
    0.5,
    0.1666666716337204,
    0.04166645556688309,
    0.00833328440785408,
    0.0013934534508734941,
    0.00019908894319087267,
];
/// f64: q(r) = (e^r - 1 - r) / r^2 on |r| <= 0.347, so that e^r = 1 + r + r^2 q(r). Fit error 2^-58.53.
pub(super) const EXP_Q_F64: [f64; 11] = [
    0.5,
    0.1666666666666667,
    0.041666666666666685,
    0.00833333333332607,
    0.0013888888888874266,
    0.0001984126987505049,
    2.480158734765193e-05,
    2.7557255109221835e-06,
    2.7557252610924483e-07,
    2.51053378932276e-08,
    2.0921691199331692e-09,
];
/// f32: P(z) = (2 atanh(s) - 2s) / s^3 on z = s^2 <= 0.0295, so that log1p(f) = 2s + s z P(z) for s = f / (2 + f). Fit error 2^-25.43.
pub(super) const LOG_P_F32: [f64; 4] = [
    0.6666666865348816,
    0.4000012278556824,
    0.2855065166950226,
    0.23334720730781555,
];
/// f64: P(z) = (2 atanh(s) - 2s) / s^3 on z = s^2 <= 0.0295, so that log1p(f) = 2s + s z P(z) for s = f / (2 + f). Fit error 2^-51.45.
pub(super) const LOG_P_F64: [f64; 7] = [
    0.666666666666667,
    0.3999999999989718,
    0.2857142862697118,
    0.22222210979789755,
    0.1818289997868255,
    0.15331372839121346,
    0.1462063644604195,
];
/// f64: T(z) = (P(z) - 2/3) / z on z <= 0.0295, so that log1p(f) = 2s + (2/3) s^3 + s^5 T(z) (the double-word logarithm of pow). Fit error 2^-55.32.
pub(super) const LOG_T_F64: [f64; 9] = [
    0.4,
    0.28571428571428564,
    0.22222222222228574,
    0.18181818179615075,
    0.15384615767078383,
    0.1333329608289546,
    0.11766832184613946,
    0.10455909234227515,
    0.10766139945148584,
];
/// f32: S(z) = (sin r - r) / r^3 on z = r^2 <= 0.7874^2. Fit error 2^-27.57.
pub(super) const SIN_S_F32: [f64; 4] = [
    -0.1666666716337204,
    0.008333331905305386,
    -0.00019840075401589274,
    2.724844080148614e-06,
];
/// f32: C(z) = (cos r - 1 + z/2) / z^2 on z = r^2 <= 0.7874^2. Fit error 2^-29.58.
pub(super) const COS_C_F32: [f64; 4] = [
    0.0416666679084301,
    -0.00138888880610466,
    2.480059083609376e-05,
    -2.7299711291561835e-07,
];
/// f64: S(z) = (sin r - r) / r^3 on z = r^2 <= 0.7874^2. Fit error 2^-56.58.
pub(super) const SIN_S_F64: [f64; 7] = [
    -0.16666666666666666,
    0.008333333333333331,
    -0.00019841269841264943,
    2.755731921924535e-06,
    -2.5052106199883704e-08,
    1.605852646315088e-10,
    -7.586393597497443e-13,
];
/// f64: C(z) = (cos r - 1 + z/2) / z^2 on z = r^2 <= 0.7874^2. Fit error 2^-58.56.
pub(super) const COS_C_F64: [f64; 6] = [
    0.041666666666666664,
    -0.001388888888888736,
    2.4801587298709114e-05,
    -2.755731724236661e-07,
    2.087614014942423e-09,
    -1.1382191847104004e-11,
];
/// f32: P(z) = erf(x) / x - 1 on z = x^2 <= 1. Fit error 2^-25.96.
pub(super) const ERF_SMALL_F32: [f64; 7] = [
    0.12837916612625122,
    -0.3761262595653534,
    0.11283600330352783,
    -0.026854444295167923,
    0.005189535673707724,
    -0.0008020842215046287,
    7.889122935011983e-05,
];
/// f64: P(z) = erf(x) / x - 1 on z = x^2 <= 1. Fit error 2^-56.16.
pub(super) const ERF_SMALL_F64: [f64; 14] = [
    0.1283791670955126,
    -0.37612638903183754,
    0.1128379167095512,
    -0.026866170645129868,
    0.005223977625423609,
    -0.0008548327021955955,
    0.00012055332903810108,
    -1.4925647594439105e-05,
    1.64620459796365e-06,
    -1.6364649541973882e-07,
    1.4792469583132717e-08,
    -1.2164968395098641e-09,
    8.710465025293566e-11,
    -4.233129701939713e-12,
];
/// f32: erfc(x) = p(x - 2.5) for x in [1, 4]. Fit error 2^-29.14.
pub(super) const ERFC_F32: [f64; 16] = [
    0.0004069523129146546,
    -0.002178278286010027,
    0.005445690825581551,
    -0.00835021585226059,
    0.00862258579581976,
    -0.00611656391993165,
    0.0027976082637906075,
    -0.0005445931456051767,
    -0.00025880394969135523,
    0.00025349893257953227,
    -8.104861626634374e-05,
    -7.805809218552895e-06,
    1.5701336451456882e-05,
    -3.446331447776174e-06,
    -8.877142363417079e-07,
    3.4916840263576887e-07,
];
/// The expansion point of [`ERFC_F32`].
pub(super) const ERFC_F32_CENTER: f64 = 2.5;
/// f64: erfc(x) = p(x - 1.3) for x in [1, 1.6]. Fit error 2^-56.46.
pub(super) const ERFC_F64_0: [f64; 16] = [
    0.06599205505934755,
    -0.20820798679606967,
    0.27067038283489026,
    -0.16517833619154892,
    0.017142457579613603,
    0.04063942291614599,
    -0.022181738624470003,
    -0.0014371215913116374,
    0.005220294494974639,
    -0.0012286445920215278,
    -0.0006086112220421851,
    0.0003449010879066132,
    1.7570106212186188e-05,
    -5.211589610096002e-05,
    6.78148413595292e-06,
    5.050685174057766e-06,
];
/// The expansion point of [`ERFC_F64_0`].
pub(super) const ERFC_F64_0_CENTER: f64 = 1.3;
/// f64: erfc(x) = p(x - 1.95) for x in [1.6, 2.3]. Fit error 2^-59.10.
pub(super) const ERFC_F64_1: [f64; 16] = [
    0.005820666407810881,
    -0.025179684949840703,
    0.04910038565219048,
    -0.055437273031232526,
    0.03768454598786506,
    -0.012762763961322752,
    -0.0017534156761766046,
    0.004015656351077321,
    -0.0015819009379675814,
    -9.533184582592399e-05,
    0.0003184131736201964,
    -9.728956208775127e-05,
    -1.669206957011445e-05,
    1.8706496779197074e-05,
    -2.674616074942612e-06,
    -1.5271827678194388e-06,
];
/// The expansion point of [`ERFC_F64_1`].
pub(super) const ERFC_F64_1_CENTER: f64 = 1.95;
/// f64: erfc(x) = p(x - 2.75) for x in [2.3, 3.2]. Fit error 2^-56.60.
pub(super) const ERFC_F64_2: [f64; 16] = [
    0.00010062192211964584,
    -0.0005862772470938354,
    0.0016122624295022252,
    -0.002760388705057461,
    0.003258113660222786,
    -0.0027558084146483376,
    0.0016573273802471989,
    -0.0006460409402846045,
    8.90120259976696e-05,
    7.122286455443915e-05,
    -5.500178865050888e-05,
    1.5845990434953986e-05,
    1.0991614951790447e-06,
    -2.6985378669716366e-06,
    8.292368794101386e-07,
    2.7118843370235486e-08,
];
/// The expansion point of [`ERFC_F64_2`].
pub(super) const ERFC_F64_2_CENTER: f64 = 2.75;
/// f64: erfc(x) = p(x - 3.75) for x in [3.2, 4.3]. Fit error 2^-58.62.
pub(super) const ERFC_F64_3: [f64; 16] = [
    1.1372725657181414e-07,
    -8.814321912019169e-07,
    3.305370716240601e-06,
    -7.969616066738142e-06,
    1.3841239940662013e-05,
    -1.837097481228072e-05,
    1.927271973897781e-05,
    -1.627530632633486e-05,
    1.1128250371374751e-05,
    -6.108843867744484e-06,
    2.6031402567370796e-06,
    -7.755629678116882e-07,
    9.085233852353448e-08,
    5.804450650419725e-08,
    -4.41852482944378e-08,
    1.2968129061828595e-08,
];
/// The expansion point of [`ERFC_F64_3`].
pub(super) const ERFC_F64_3_CENTER: f64 = 3.75;
/// f64: erfc(x) = p(x - 5.15) for x in [4.3, 6]. Fit error 2^-54.58.
pub(super) const ERFC_F64_4: [f64; 16] = [
    3.2595764550919396e-13,
    -3.418686722262545e-12,
    1.761344833417553e-11,
    -5.93208231958483e-11,
    1.4667241528053102e-10,
    -2.845659764573527e-10,
    4.5167224300060434e-10,
    -5.951359083155945e-10,
    6.571344022320966e-10,
    -6.435627051231449e-10,
    5.822124325400568e-10,
    -4.2243941470226846e-10,
    2.154964681849548e-10,
    -1.3518130026400857e-10,
    1.2098988868859053e-10,
    -4.8682908567508215e-11,
];
/// The expansion point of [`ERFC_F64_4`].
pub(super) const ERFC_F64_4_CENTER: f64 = 5.15;

/// `π/2` as three parts `C1 + C2 + C3` (each the rounding of the rest).
pub(super) const PIO2_F32: [f64; 3] = [
    std::f32::consts::FRAC_PI_2 as f64,
    -4.371138828673793e-08,
    -1.7151245100058819e-15,
];
/// `π/2` as three parts.
pub(super) const PIO2_F64: [f64; 3] = [
    std::f64::consts::FRAC_PI_2,
    6.123233995736766e-17,
    -1.4973849048591698e-33,
];
/// `ln 2` as two parts.
pub(super) const LN2_F32: [f64; 2] = [std::f32::consts::LN_2 as f64, -1.9046542121259336e-09];
/// `ln 2` as two parts.
pub(super) const LN2_F64: [f64; 2] = [std::f64::consts::LN_2, 2.3190468138462996e-17];
/// `2/3` as two parts.
pub(super) const TWO_THIRDS_F64: [f64; 2] = [0.6666666666666666, 3.700743415417188e-17];
/// `2/π` rounded to `f32` and to `f64`.
pub(super) const TWO_OVER_PI: [f64; 2] = [
    std::f32::consts::FRAC_2_PI as f64,
    std::f64::consts::FRAC_2_PI,
];
/// `log2(e)` rounded to `f32` and to `f64`.
pub(super) const LOG2_E: [f64; 2] = [std::f32::consts::LOG2_E as f64, std::f64::consts::LOG2_E];
/// `sqrt(1/2)` rounded to `f32` and to `f64`, the lower end of the reduced
/// logarithm argument.
pub(super) const SQRT_HALF: [f64; 2] = [
    std::f32::consts::FRAC_1_SQRT_2 as f64,
    std::f64::consts::FRAC_1_SQRT_2,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_f32(t: &[f64]) -> bool {
        t.iter().all(|&c| f64::from(c as f32) == c)
    }

    #[test]
    fn f32_tables_hold_f32_values() {
        let tables: [&[f64]; 10] = [
            &EXP_Q_F32,
            &LOG_P_F32,
            &SIN_S_F32,
            &COS_C_F32,
            &ERF_SMALL_F32,
            &ERFC_F32,
            &PIO2_F32,
            &LN2_F32,
            &[TWO_OVER_PI[0], LOG2_E[0], SQRT_HALF[0]],
            &[ERFC_F32_CENTER],
        ];
        assert!(tables.iter().all(|t| exact_f32(t)));
    }

    #[test]
    fn split_constants_add_up() {
        // Each low part is the rounding of what the high parts leave (checked
        // in f64 for the f32 splits, whose sums carry about 48 bits).
        let pio2 = std::f64::consts::FRAC_PI_2;
        assert_eq!(PIO2_F32[1], f64::from((pio2 - PIO2_F32[0]) as f32));
        assert!((PIO2_F32[0] + PIO2_F32[1] + PIO2_F32[2] - pio2).abs() < 1e-22);
        assert!(PIO2_F64[1].abs() < 1e-16 && PIO2_F64[2].abs() < 1e-32);
        assert_eq!(
            LN2_F32[1],
            f64::from((std::f64::consts::LN_2 - LN2_F32[0]) as f32)
        );
        assert!(LN2_F64[1].abs() < 1e-16);
        assert_eq!(TWO_THIRDS_F64[0], 2.0 / 3.0);
    }
}
