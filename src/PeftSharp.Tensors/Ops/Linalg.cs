using PeftSharp.Tensors.Autograd;

namespace PeftSharp.Tensors;

// Small dense linear algebra with gradients. Shapes: (..., N, N) batches of square matrices.
public sealed partial class Tensor
{
    /// <summary>
    /// The inverse of each square matrix in a batch (..., N, N), computed by Gauss–Jordan elimination with partial
    /// pivoting in float64 and rounded once to float32. Gradient: dA = −A⁻ᵀ · dY · A⁻ᵀ.
    /// Meant for small matrices (orthogonal parametrisations, block transforms); cost is O(N³) per matrix.
    /// </summary>
    /// <exception cref="ArgumentException">The tensor is not at least 2-D with equal last two dimensions.</exception>
    /// <exception cref="InvalidOperationException">A matrix is singular (or not finite); the message names its batch index.</exception>
    public Tensor Inverse()
    {
        ThrowUnlessFloat("Inverse");
        if (Rank < 2 || Dim(-1) != Dim(-2))
        {
            throw new ArgumentException($"Inverse needs a batch of square matrices (..., N, N); got shape {Shapes.Format(_shape)}.");
        }
        int n = Dim(-1);
        var x = Contiguous();
        var result = Empty((int[])_shape.Clone());
        int batches = n == 0 ? 0 : Numel / (n * n);
        var src = x.Span;
        var dst = result.Span;
        var work = new double[n * 2 * n];
        for (int b = 0; b < batches; b++)
        {
            if (!InvertOne(src.Slice(b * n * n, n * n), dst.Slice(b * n * n, n * n), n, work))
            {
                throw new InvalidOperationException($"Inverse: matrix {b} of the batch (shape {Shapes.Format(_shape)}) is singular or not finite.");
            }
        }
        var node = Tape.Record(result, "inverse", Gradients.Inverse, this);
        if (node is not null)
        {
            node.Saved = [result];
        }
        return result;
    }

    /// <summary>Gauss–Jordan on [A | I] (n × 2n, float64). Returns false when a pivot is zero or not finite.</summary>
    private static bool InvertOne(ReadOnlySpan<float> a, Span<float> inverse, int n, double[] work)
    {
        int w = 2 * n;
        Array.Clear(work);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                work[i * w + j] = a[i * n + j];
            }
            work[i * w + n + i] = 1;
        }
        for (int col = 0; col < n; col++)
        {
            // Partial pivoting: the largest magnitude in this column at or below the diagonal.
            int pivot = col;
            double best = Math.Abs(work[col * w + col]);
            for (int r = col + 1; r < n; r++)
            {
                double v = Math.Abs(work[r * w + col]);
                if (v > best)
                {
                    best = v;
                    pivot = r;
                }
            }
            if (!(best > 0) || !double.IsFinite(best))
            {
                return false;
            }
            if (pivot != col)
            {
                for (int j = 0; j < w; j++)
                {
                    (work[col * w + j], work[pivot * w + j]) = (work[pivot * w + j], work[col * w + j]);
                }
            }
            double inv = 1.0 / work[col * w + col];
            for (int j = 0; j < w; j++)
            {
                work[col * w + j] *= inv;
            }
            for (int r = 0; r < n; r++)
            {
                double f = work[r * w + col];
                if (r == col || f == 0)
                {
                    continue;
                }
                for (int j = 0; j < w; j++)
                {
                    work[r * w + j] -= f * work[col * w + j];
                }
            }
        }
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double v = work[i * w + n + j];
                if (!double.IsFinite(v))
                {
                    return false;
                }
                inverse[i * n + j] = (float)v;
            }
        }
        return true;
    }
}
