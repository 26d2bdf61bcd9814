"""Regenerates the coefficient tables of rjax-codegen's math expansions
(codegen/src/math/coeffs.rs).

Each table is a minimax polynomial found by Remez exchange in 60-digit
arithmetic (mpmath), rounded to the target precision (f32 or f64); the
printed error is re-measured with the rounded coefficients on a dense grid.
remez(f, powers, a, b, w) finds c minimising max |w(x) (f(x) - sum c_i x^powers[i])|
on [a, b].

Run: python3 coefficients.py  (needs mpmath and numpy; about two minutes).
"""
import mpmath as mp
import numpy as np
mp.mp.dps = 60

def basis(x, powers):
    return [x**p for p in powers]

def remez(f, powers, a, b, w, iters=30, grid=6000):
    n = len(powers)
    a, b = mp.mpf(a), mp.mpf(b)
    # Chebyshev extrema as the first reference.
    ref = [ (a+b)/2 - (b-a)/2*mp.cos(mp.pi*j/n) for j in range(n+1)]
    xs = [ (a+b)/2 - (b-a)/2*mp.cos(mp.pi*(j+0.5)/grid) for j in range(grid)]
    xs = [a] + xs + [b]
    fx = [f(x) for x in xs]; wx = [w(x) for x in xs]; bx = [basis(x, powers) for x in xs]
    last = None
    for it in range(iters):
        A = mp.matrix(n+1, n+1); rhs = mp.matrix(n+1, 1)
        for j, x in enumerate(ref):
            for i, v in enumerate(basis(x, powers)):
                A[j, i] = v
            A[j, n] = (-1)**j / w(x)
            rhs[j] = f(x)
        sol = mp.lu_solve(A, rhs)
        c = [sol[i] for i in range(n)]
        E = sol[n]
        err = [wx[k]*(fx[k] - sum(ci*bi for ci, bi in zip(c, bx[k]))) for k in range(len(xs))]
        # local extrema of err
        ext = []
        for k in range(len(xs)):
            l = err[k-1] if k > 0 else None
            r = err[k+1] if k+1 < len(xs) else None
            e = err[k]
            if (l is None or abs(e) >= abs(l)) and (r is None or abs(e) >= abs(r)):
                ext.append(k)
        # merge same-sign runs keeping the largest
        merged = []
        for k in ext:
            if merged and mp.sign(err[merged[-1]]) == mp.sign(err[k]):
                if abs(err[k]) > abs(err[merged[-1]]):
                    merged[-1] = k
            else:
                merged.append(k)
        while len(merged) > n+1:
            if abs(err[merged[0]]) < abs(err[merged[-1]]):
                merged.pop(0)
            else:
                merged.pop()
        if len(merged) < n+1:
            break
        ref = [xs[k] for k in merged]
        m = max(abs(e) for e in err)
        if last is not None and abs(m - last) < m*1e-6:
            break
        last = m
    return c, max(abs(e) for e in err)

def rnd(c, prec):
    if prec == 32:
        return [float(np.float32(float(ci))) for ci in c]
    return [float(ci) for ci in c]

def measure(f, powers, c, a, b, w, n=20000, prec=64):
    a, b = mp.mpf(a), mp.mpf(b)
    m = 0
    for j in range(n+1):
        x = a + (b-a)*j/n
        if w(x) == 0: continue
        p = sum(mp.mpf(ci)*x**pw for ci, pw in zip(c, powers))
        m = max(m, abs(w(x)*(f(x)-p)))
    return m

def show(name, c, prec):
    if prec == 32:
        vals = ", ".join(repr(float(np.float32(ci))) for ci in c)
    else:
        vals = ", ".join(repr(ci) for ci in c)
    print(f"{name} = [{vals}]")

def fit_and_report(name, f, powers, a, b, w, prec):
    c, e = remez(f, powers, a, b, w)
    cr = rnd(c, prec)
    er = measure(f, powers, cr, a, b, w, prec=prec)
    print(f"# {name}: minimax err 2^{float(mp.log(e,2)):.2f}, rounded 2^{float(mp.log(er,2)):.2f}")
    show(name, cr, prec)
    return cr

# ---- the tables of coeffs.rs ----


one = lambda x: mp.mpf(1)
SMALL = mp.mpf('1e-10')

def exp_q(r):  # (e^r - 1 - r) / r^2
    if abs(r) < SMALL:
        return sum(r**k/mp.factorial(k+2) for k in range(12))
    return (mp.exp(r)-1-r)/r**2

def log_p(z):  # (2 atanh(s) - 2 s) / s^3 with z = s^2
    if z < SMALL:
        return sum(2*z**(n-1)/(2*n+1) for n in range(1, 12))
    s = mp.sqrt(z)
    return (2*mp.atanh(s) - 2*s)/(z*s)

def log_t(z):  # (log_p(z) - 2/3) / z
    if z < SMALL:
        return sum(2*z**(n-2)/(2*n+1) for n in range(2, 14))
    return (log_p(z) - mp.mpf(2)/3)/z

def sin_s(z):  # (sin r - r) / r^3 with z = r^2
    if z < SMALL:
        return sum((-1)**n*z**(n-1)/mp.factorial(2*n+1) for n in range(1, 12))
    r = mp.sqrt(z); return (mp.sin(r)-r)/(r*z)

def cos_c(z):  # (cos r - 1 + z/2) / z^2
    if z < SMALL:
        return sum((-1)**n*z**(n-2)/mp.factorial(2*n) for n in range(2, 13))
    r = mp.sqrt(z); return (mp.cos(r)-1+z/2)/z**2

def erf_small(z):  # erf(x)/x - 1 with z = x^2
    if z < SMALL:
        return 2/mp.sqrt(mp.pi)*(1 - z/3 + z**2/10) - 1
    x = mp.sqrt(z); return mp.erf(x)/x - 1

TRIG_Z = mp.mpf('0.7874')**2
LOG_Z = mp.mpf('0.0295')

def shifted(name, f, a, b, d, prec):
    c = (mp.mpf(a)+mp.mpf(b))/2
    fit_and_report(name, lambda t: f(t+c), list(range(d+1)), mp.mpf(a)-c, mp.mpf(b)-c, one, prec)
    print(f"{name}_CENTER = {float(c)!r}")

if __name__ == "__main__":
    fit_and_report("EXP_Q_F32", exp_q, list(range(6)), -0.35, 0.35, one, 32)
    fit_and_report("EXP_Q_F64", exp_q, list(range(11)), -0.347, 0.347, one, 64)
    fit_and_report("LOG_P_F32", log_p, list(range(4)), 0, LOG_Z, one, 32)
    fit_and_report("LOG_P_F64", log_p, list(range(7)), 0, LOG_Z, one, 64)
    fit_and_report("LOG_T_F64", log_t, list(range(9)), 0, LOG_Z, one, 64)
    fit_and_report("SIN_S_F32", sin_s, list(range(4)), 0, TRIG_Z, one, 32)
    fit_and_report("COS_C_F32", cos_c, list(range(4)), 0, TRIG_Z, one, 32)
    fit_and_report("SIN_S_F64", sin_s, list(range(7)), 0, TRIG_Z, one, 64)
    fit_and_report("COS_C_F64", cos_c, list(range(6)), 0, TRIG_Z, one, 64)
    fit_and_report("ERF_SMALL_F32", erf_small, list(range(7)), 0, 1, one, 32)
    fit_and_report("ERF_SMALL_F64", erf_small, list(range(14)), 0, 1, one, 64)
    shifted("ERFC_F32", mp.erfc, 1, 4, 15, 32)
    for i, (a, b) in enumerate([(1, 1.6), (1.6, 2.3), (2.3, 3.2), (3.2, 4.3), (4.3, 6)]):
        shifted(f"ERFC_F64_{i}", mp.erfc, a, b, 15, 64)
