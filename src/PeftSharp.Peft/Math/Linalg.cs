namespace PeftSharp.Peft.Math;

/// <summary>
/// Small dense float64 decompositions for adapter initialisation and merging (matrices of a few thousand rows
/// at most, run once, so clarity beats speed). Matrices are row-major arrays with explicit dimensions.
/// </summary>
public static class Linalg
{
    /// <summary>
    /// Thin singular value decomposition A = U · diag(S) · Vt of A (m, n), k = min(m, n): U (m, k) and Vt (k, n)
    /// with orthonormal columns / rows, S descending and non-negative. One-sided Jacobi (Hestenes) rotations, run to
    /// convergence (relative off-diagonal below 1e-15), so the factors are accurate to float64 rounding.
    /// </summary>
    public static (double[] U, double[] S, double[] Vt) Svd(ReadOnlySpan<double> a, int m, int n)
    {
        CheckShape(a.Length, m, n);
        if (m < n)
        {
            var (u2, s2, vt2) = Svd(Transpose(a, m, n), n, m);
            // Aᵀ = U2 S Vt2  ⇒  A = Vt2ᵀ S U2ᵀ.
            return (Transpose(vt2, m, m), s2, Transpose(u2, n, m));
        }
        int k = n;
        var w = a.ToArray();              // columns become U·S
        var v = new double[n * n];        // accumulated right rotations
        for (int i = 0; i < n; i++)
        {
            v[i * n + i] = 1;
        }
        for (int sweep = 0; sweep < 100; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < n - 1; p++)
            {
                for (int q = p + 1; q < n; q++)
                {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++)
                    {
                        double wp = w[i * n + p], wq = w[i * n + q];
                        alpha += wp * wp;
                        beta += wq * wq;
                        gamma += wp * wq;
                    }
                    if (gamma == 0 || System.Math.Abs(gamma) <= 1e-15 * System.Math.Sqrt(alpha * beta))
                    {
                        continue;
                    }
                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = System.Math.Sign(zeta == 0 ? 1 : zeta) / (System.Math.Abs(zeta) + System.Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / System.Math.Sqrt(1 + t * t), sn = c * t;
                    for (int i = 0; i < m; i++)
                    {
                        double wp = w[i * n + p], wq = w[i * n + q];
                        w[i * n + p] = c * wp - sn * wq;
                        w[i * n + q] = sn * wp + c * wq;
                    }
                    for (int i = 0; i < n; i++)
                    {
                        double vp = v[i * n + p], vq = v[i * n + q];
                        v[i * n + p] = c * vp - sn * vq;
                        v[i * n + q] = sn * vp + c * vq;
                    }
                }
            }
            if (!rotated)
            {
                break;
            }
        }
        var sv = new double[k];
        for (int j = 0; j < k; j++)
        {
            double sum = 0;
            for (int i = 0; i < m; i++)
            {
                sum += w[i * n + j] * w[i * n + j];
            }
            sv[j] = System.Math.Sqrt(sum);
        }
        var order = Enumerable.Range(0, k).OrderByDescending(j => sv[j]).ToArray();
        var u = new double[m * k];
        var s = new double[k];
        var vt = new double[k * n];
        double tiny = (sv.Length == 0 ? 0 : sv.Max()) * 1e-300;
        for (int jj = 0; jj < k; jj++)
        {
            int j = order[jj];
            s[jj] = sv[j];
            for (int i = 0; i < m; i++)
            {
                u[i * k + jj] = sv[j] > tiny && sv[j] > 0 ? w[i * n + j] / sv[j] : 0;
            }
            for (int i = 0; i < n; i++)
            {
                vt[jj * n + i] = v[i * n + j];
            }
        }
        CompleteOrthonormalColumns(u, m, k, s);
        return (u, s, vt);
    }

    /// <summary>Columns of U whose singular value is zero get unit vectors orthogonal to the others (Gram–Schmidt).</summary>
    private static void CompleteOrthonormalColumns(double[] u, int m, int k, double[] s)
    {
        for (int j = 0; j < k; j++)
        {
            if (s[j] > 0)
            {
                continue;
            }
            for (int e = 0; e < m; e++)
            {
                var col = new double[m];
                col[e] = 1;
                for (int o = 0; o < k; o++)
                {
                    if (o == j || (s[o] == 0 && o > j))
                    {
                        continue;
                    }
                    double dot = 0;
                    for (int i = 0; i < m; i++)
                    {
                        dot += u[i * k + o] * col[i];
                    }
                    for (int i = 0; i < m; i++)
                    {
                        col[i] -= dot * u[i * k + o];
                    }
                }
                double norm = System.Math.Sqrt(col.Sum(x => x * x));
                if (norm > 1e-6)
                {
                    for (int i = 0; i < m; i++)
                    {
                        u[i * k + j] = col[i] / norm;
                    }
                    break;
                }
            }
        }
    }

    /// <summary>
    /// Reduced QR decomposition A = Q · R of A (m, n), k = min(m, n): Q (m, k) with orthonormal columns and R (k, n)
    /// upper triangular, by Householder reflections. Signs of Q's columns / R's rows may differ from LAPACK's;
    /// every product Q[:, :r] · R[:r] is the same.
    /// </summary>
    public static (double[] Q, double[] R) Qr(ReadOnlySpan<double> a, int m, int n)
    {
        CheckShape(a.Length, m, n);
        int k = System.Math.Min(m, n);
        var r = a.ToArray();
        var vs = new double[k][];
        for (int j = 0; j < k; j++)
        {
            int len = m - j;
            var x = new double[len];
            for (int i = 0; i < len; i++)
            {
                x[i] = r[(j + i) * n + j];
            }
            double norm = System.Math.Sqrt(x.Sum(t => t * t));
            var vj = (double[])x.Clone();
            double alpha = x[0] >= 0 ? -norm : norm;
            vj[0] -= alpha;
            double vnorm = System.Math.Sqrt(vj.Sum(t => t * t));
            if (vnorm == 0)
            {
                vs[j] = new double[len];
                continue;
            }
            for (int i = 0; i < len; i++)
            {
                vj[i] /= vnorm;
            }
            vs[j] = vj;
            for (int c = j; c < n; c++)
            {
                double dot = 0;
                for (int i = 0; i < len; i++)
                {
                    dot += vj[i] * r[(j + i) * n + c];
                }
                for (int i = 0; i < len; i++)
                {
                    r[(j + i) * n + c] -= 2 * vj[i] * dot;
                }
            }
        }
        var q = new double[m * k];
        for (int i = 0; i < k; i++)
        {
            q[i * k + i] = 1;
        }
        for (int j = k - 1; j >= 0; j--)
        {
            var vj = vs[j];
            int len = m - j;
            for (int c = 0; c < k; c++)
            {
                double dot = 0;
                for (int i = 0; i < len; i++)
                {
                    dot += vj[i] * q[(j + i) * k + c];
                }
                for (int i = 0; i < len; i++)
                {
                    q[(j + i) * k + c] -= 2 * vj[i] * dot;
                }
            }
        }
        var rr = new double[k * n];
        for (int i = 0; i < k; i++)
        {
            for (int c = i; c < n; c++)
            {
                rr[i * n + c] = r[i * n + c];
            }
        }
        return (q, rr);
    }

    /// <summary>C (m, n) = A (m, k) · B (k, n).</summary>
    public static double[] MatMul(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int m, int k, int n)
    {
        CheckShape(a.Length, m, k);
        CheckShape(b.Length, k, n);
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int p = 0; p < k; p++)
            {
                double av = a[i * k + p];
                if (av == 0)
                {
                    continue;
                }
                for (int j = 0; j < n; j++)
                {
                    c[i * n + j] += av * b[p * n + j];
                }
            }
        }
        return c;
    }

    /// <summary>Aᵀ (n, m) of A (m, n).</summary>
    public static double[] Transpose(ReadOnlySpan<double> a, int m, int n)
    {
        var t = new double[a.Length];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                t[j * m + i] = a[i * n + j];
            }
        }
        return t;
    }

    private static void CheckShape(int length, int m, int n)
    {
        if (m < 0 || n < 0 || (long)m * n != length)
        {
            throw new ArgumentException($"A ({m}, {n}) matrix needs {(long)m * n} elements; got {length}.");
        }
    }
}
