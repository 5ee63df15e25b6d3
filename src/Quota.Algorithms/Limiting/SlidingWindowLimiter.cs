namespace Quota.Algorithms.Limiting;

/// <summary>
/// Sliding window approximated by two fixed buckets: the count of the previous bucket, weighted by how much of it
/// the sliding window still covers, plus the count of the current bucket. O(1) state.
/// </summary>
/// <remarks>
/// <para>Guaranteed: no aligned bucket (multiples of the window since the Unix epoch) ever admits more than the
/// limit, and the weighted estimate never exceeds the limit after a grant.</para>
/// <para>Error: the estimate assumes the previous bucket's permits were spread evenly. At elapsed time
/// <c>e</c> into the current bucket, a true sliding window of length <c>window</c> holds at most
/// <c>limit + previous × e / window</c> permits, which is below <c>2 × limit</c>; that bound is reached only
/// when all of the previous bucket's traffic came at its very end. Traffic spread evenly is counted exactly.
/// Use <see cref="AlgorithmKind.SlidingLog"/> when a small limit must be exact.</para>
/// </remarks>
public sealed class SlidingWindowLimiter : Limiter
{
    private long _limit;
    private readonly long _window;
    private long _start = long.MinValue / 2;
    private long _current;
    private long _previous;

    /// <summary>Creates an empty window for a valid sliding-window policy.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or not a sliding window.</exception>
    public SlidingWindowLimiter(PolicyDefinition policy)
        : base(Require(policy, AlgorithmKind.SlidingWindow))
    {
        _limit = policy.Limit;
        _window = policy.Window.Ticks;
    }


    private protected override void Observe(long now)
    {
        if (now - _start < _window)
        {
            return;
        }

        _previous = now - _start < 2 * _window ? _current : 0;
        _current = 0;
        _start = AlignDown(now, _window);
    }

    /// <summary>The weighted count scaled by the window: previous × (window − elapsed) + current × window.</summary>
    private Int128 Weighted(long now) => (Int128)_previous * (_window - (now - _start)) + (Int128)_current * _window;

    private protected override bool TryTake(long cost, long now, out long leaseNumber)
    {
        leaseNumber = 0;
        if (Weighted(now) + (Int128)cost * _window > (Int128)_limit * _window)
        {
            return false;
        }

        _current += cost;
        return true;
    }

    private protected override long RemainingAt(long now)
    {
        var room = (Int128)_limit * _window - Weighted(now);
        return room <= 0 ? 0 : Arith.FloorDiv(room, _window);
    }

    private protected override long UsedAt(long now) => Arith.CeilDiv(Weighted(now), _window);

    private protected override long RetryTicks(long cost, long now)
    {
        // Within the current bucket, admitted once previous × (W − e) <= (limit − current − cost) × W.
        if (_previous > 0 && cost <= _limit - _current)
        {
            var e = _window - Arith.FloorDiv((Int128)(_limit - _current - cost) * _window, _previous);
            if (e < _window)
            {
                return _start + e - now;
            }
        }

        // In the next bucket the current count becomes the previous one and decays from there.
        var next = _start + _window;
        if (_current == 0)
        {
            return next - now;
        }

        var e2 = _window - Arith.FloorDiv((Int128)(_limit - cost) * _window, _current);
        if (e2 < 0)
        {
            e2 = 0;
        }

        return e2 < _window ? next + e2 - now : next + _window - now;
    }

    private protected override long ResetTicks(long now) =>
        _current > 0 ? _start + 2 * _window - now
        : _previous > 0 ? _start + _window - now
        : 0;

    private protected override void Return(Grant grant, long now)
    {
        if (grant.AcquiredAtTicks >= _start)
        {
            _current -= Math.Min(grant.Cost, _current);
        }
        else if (grant.AcquiredAtTicks >= _start - _window)
        {
            _previous -= Math.Min(grant.Cost, _previous);
        }
    }

    private protected override void Add(long cost, long now) => _current = SaturatingAdd(_current, cost);

    private protected override bool TryReconfigureInPlace(PolicyDefinition next, long now)
    {
        if (next.Window.Ticks != _window)
        {
            return false;
        }

        _limit = next.Limit;
        return true;
    }
}
