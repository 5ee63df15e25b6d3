namespace Quota.Algorithms.Limiting;

/// <summary>
/// A counter that starts from zero at the beginning of each period: the shared core of fixed windows and
/// calendar quotas. Periods are half-open, [start, end).
/// </summary>
public abstract class PeriodLimiter : Limiter
{
    private long _limit;
    private long _start = long.MinValue;
    private long _end = long.MinValue;
    private long _used;

    private protected PeriodLimiter(PolicyDefinition policy)
        : base(policy)
    {
        _limit = policy.Limit;
    }

    /// <summary>The current period's start, in UTC ticks (after the last call).</summary>
    public long PeriodStartTicks => _start;

    /// <summary>The current period's end (exclusive), in UTC ticks (after the last call).</summary>
    public long PeriodEndTicks => _end;

    /// <summary>
    /// Brings back a count saved earlier (a checkpoint): when the period that started at
    /// <paramref name="periodStartTicks"/> is still the current one at <paramref name="now"/>, the counter counts at
    /// least <paramref name="used"/> permits from now on. A checkpoint of an earlier period is ignored (that period
    /// is over and the new one starts from zero).
    /// </summary>
    /// <returns>Whether the checkpoint applied to the current period.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="used"/> is negative.</exception>
    public bool Restore(long periodStartTicks, long used, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(used);
        Advance(now);
        if (periodStartTicks != _start)
        {
            return false;
        }

        _used = Math.Max(_used, used);
        return true;
    }

    /// <summary>The period [start, end) containing <paramref name="now"/>.</summary>
    private protected abstract (long Start, long End) PeriodContaining(long now);

    private protected override void Observe(long now)
    {
        if (now < _end)
        {
            return;
        }

        (_start, _end) = PeriodContaining(now);
        _used = 0;
    }

    private protected override bool TryTake(long cost, long now, out long leaseNumber)
    {
        leaseNumber = 0;
        if (cost > _limit - _used)
        {
            return false;
        }

        _used += cost;
        return true;
    }

    private protected override long RemainingAt(long now) => Math.Max(0, _limit - _used);

    private protected override long UsedAt(long now) => _used;

    // The next period starts from zero and cost <= limit, so the period's end is the exact answer.
    private protected override long RetryTicks(long cost, long now) => _end - now;

    private protected override long ResetTicks(long now) => _used > 0 ? _end - now : 0;

    private protected override void Return(Grant grant, long now)
    {
        if (grant.AcquiredAtTicks >= _start)
        {
            _used -= Math.Min(grant.Cost, _used);
        }
    }

    private protected override void Add(long cost, long now) => _used = SaturatingAdd(_used, cost);

    /// <summary>Applies the new limit in place when <paramref name="next"/> keeps the same periods.</summary>
    private protected override bool TryReconfigureInPlace(PolicyDefinition next, long now)
    {
        if (!SamePeriods(next))
        {
            return false;
        }

        _limit = next.Limit;
        return true;
    }

    /// <summary>Whether <paramref name="next"/> cuts time into the same periods as the current policy.</summary>
    private protected abstract bool SamePeriods(PolicyDefinition next);
}

/// <summary>
/// Fixed windows aligned to multiples of the window since the Unix epoch, so every silo agrees on them.
/// Downside: up to 2 × limit can pass around a window boundary (the end of one window and the start of the next).
/// </summary>
public sealed class FixedWindowLimiter : PeriodLimiter
{
    private readonly long _window;

    /// <summary>Creates an empty window for a valid fixed-window policy.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or not a fixed window.</exception>
    public FixedWindowLimiter(PolicyDefinition policy)
        : base(Require(policy, AlgorithmKind.FixedWindow))
    {
        _window = policy.Window.Ticks;
    }


    private protected override (long Start, long End) PeriodContaining(long now)
    {
        var start = AlignDown(now, _window);
        return (start, start + _window);
    }

    private protected override bool SamePeriods(PolicyDefinition next) => next.Window.Ticks == _window;
}

/// <summary>
/// A quota per calendar day, week or month in an IANA time zone: a month is the calendar month, and a day is
/// local midnight to local midnight, so it lasts 23 or 25 hours across a daylight-saving change.
/// </summary>
public sealed class CalendarQuotaLimiter : PeriodLimiter
{
    private readonly TimeZoneInfo _zone;
    private readonly CalendarPeriod _period;
    private readonly DayOfWeek _firstDay;

    /// <summary>Creates an empty quota for a valid calendar policy.</summary>
    /// <exception cref="InvalidPolicyException">The policy is invalid or not a calendar quota.</exception>
    public CalendarQuotaLimiter(PolicyDefinition policy)
        : base(Require(policy, AlgorithmKind.Calendar))
    {
        _zone = TimeZoneInfo.FindSystemTimeZoneById(policy.TimeZone);
        _period = policy.Period!.Value;
        _firstDay = policy.FirstDayOfWeek;
    }


    private protected override (long Start, long End) PeriodContaining(long now)
    {
        // Unclamped ticks: at the very end of time the period must still end after now, or every call would
        // start a fresh one.
        return CalendarPeriods.ContainingTicks(new DateTimeOffset(now, TimeSpan.Zero), _zone, _period, _firstDay);
    }

    private protected override bool SamePeriods(PolicyDefinition next) =>
        next.Period == _period
        && next.FirstDayOfWeek == _firstDay
        && TimeZoneInfo.FindSystemTimeZoneById(next.TimeZone).Id == _zone.Id;
}
