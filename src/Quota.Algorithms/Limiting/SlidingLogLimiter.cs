namespace Quota.Algorithms.Limiting;

/// <summary>
/// Exact sliding window: a log of grants (time, cost); a grant counts until exactly one window after it.
/// Memory grows with the number of grants in a window, so the limit is capped at
/// <see cref="PolicyDefinition.MaxSlidingLogLimit"/>. Grants at the same tick share one entry.
/// </summary>
public sealed class SlidingLogLimiter : Limiter
{
    private long _limit;
    private long _window;
    private long[] _times = new long[4];
    private long[] _costs = new long[4];
    private int _head;
    private int _count;

    // Exactly the sum of the entries' costs. Entries saturate at long.MaxValue, but a sum saturated separately
    // drifted from them: after two top-ups near long.MaxValue it held long.MaxValue, and once the first entry
    // expired it dropped near 0 while the second still held long.MaxValue, so requests were admitted again.
    private Int128 _sum;

    /// <summary>Creates an empty log for a valid sliding-log policy.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or not a sliding log.</exception>
    public SlidingLogLimiter(PolicyDefinition policy)
        : base(Require(policy, AlgorithmKind.SlidingLog))
    {
        _limit = policy.Limit;
        _window = policy.Window.Ticks;
    }


    private int Index(int i) => (_head + i) % _times.Length;

    private protected override void Observe(long now)
    {
        while (_count > 0 && now - _times[_head] >= _window)
        {
            _sum -= _costs[_head];
            _head = (_head + 1) % _times.Length;
            _count--;
        }
    }

    private protected override bool TryTake(long cost, long now, out long leaseNumber)
    {
        leaseNumber = 0;
        if (cost > _limit - _sum)
        {
            return false;
        }

        Append(cost, now);
        return true;
    }

    private void Append(long cost, long now)
    {
        if (_count > 0)
        {
            var last = Index(_count - 1);
            if (_times[last] == now)
            {
                var merged = SaturatingAdd(_costs[last], cost);
                _sum += merged - _costs[last];
                _costs[last] = merged;
                return;
            }
        }

        _sum += cost;

        if (_count == _times.Length)
        {
            Grow();
        }

        var slot = Index(_count);
        _times[slot] = now;
        _costs[slot] = cost;
        _count++;
    }

    private void Grow()
    {
        var times = new long[_times.Length * 2];
        var costs = new long[_costs.Length * 2];
        for (var i = 0; i < _count; i++)
        {
            times[i] = _times[Index(i)];
            costs[i] = _costs[Index(i)];
        }

        _times = times;
        _costs = costs;
        _head = 0;
    }

    private protected override long RemainingAt(long now) => _sum >= _limit ? 0 : _limit - (long)_sum;

    private protected override long UsedAt(long now) => _sum > long.MaxValue ? long.MaxValue : (long)_sum;

    private protected override long RetryTicks(long cost, long now)
    {
        // The oldest entries expire first; wait until enough of them have.
        var needed = _sum - (_limit - cost);
        Int128 freed = 0;
        for (var i = 0; i < _count; i++)
        {
            var slot = Index(i);
            freed += _costs[slot];
            if (freed >= needed)
            {
                return _times[slot] + _window - now;
            }
        }

        return 0;
    }

    private protected override long ResetTicks(long now) =>
        _count == 0 ? 0 : _times[Index(_count - 1)] + _window - now;

    private protected override void Return(Grant grant, long now)
    {
        for (var i = _count - 1; i >= 0; i--)
        {
            var slot = Index(i);
            if (_times[slot] == grant.AcquiredAtTicks)
            {
                var back = Math.Min(grant.Cost, _costs[slot]);
                _costs[slot] -= back;
                _sum -= back;

                // Drop emptied entries at the tail so reset-after reflects the newest permit still counted.
                while (_count > 0 && _costs[Index(_count - 1)] == 0)
                {
                    _count--;
                }

                return;
            }

            if (_times[slot] < grant.AcquiredAtTicks)
            {
                return;
            }
        }
    }

    private protected override void Add(long cost, long now) => Append(cost, now);

    private protected override bool TryReconfigureInPlace(PolicyDefinition next, long now)
    {
        // Entries carry exact times, so a new window applies to them exactly.
        _limit = next.Limit;
        _window = next.Window.Ticks;
        Observe(now);
        return true;
    }
}
