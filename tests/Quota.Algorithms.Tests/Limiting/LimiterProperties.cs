using System.Globalization;
using System.Numerics;
using System.Text;
using CsCheck;
using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>
/// Random operation sequences (time steps of every size including backwards, costs up to long.MaxValue, refunds
/// and settlements of earlier grants) checked against trivially correct reference models and against the shared
/// semantics in the NOTE of Limiter.cs.
/// </summary>
public sealed class LimiterProperties
{
    private const int Iterations = 400;

    private static readonly long Origin = new DateTimeOffset(2026, 1, 5, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    private static readonly long MaxTicks = DateTimeOffset.MaxValue.UtcTicks;

    private static readonly long[] Windows =
    [
        1,
        7,
        TimeSpan.TicksPerSecond,
        10 * TimeSpan.TicksPerSecond,
        TimeSpan.TicksPerMinute,
        TimeSpan.TicksPerHour,
        TimeSpan.TicksPerDay,
        PolicyDefinition.MaxWindow.Ticks,
    ];

    private static readonly string[] Zones =
        ["UTC", "Europe/Warsaw", "America/Santiago", "Asia/Beirut", "America/Havana", "Australia/Lord_Howe", "Pacific/Kiritimati", "America/St_Johns"];

    public enum OpKind
    {
        Acquire,
        Refund,
        Settle,
        Release,
        Renew,
    }

    /// <summary>One step of a scenario.</summary>
    /// <param name="Kind">What to do.</param>
    /// <param name="Step">Ticks to move the caller's clock by first; may be negative.</param>
    /// <param name="Cost">Acquire: the cost; Settle: the actual cost.</param>
    /// <param name="Pick">Which earlier grant a refund, settle, release or renew applies to (modulo their count).</param>
    public readonly record struct Op(OpKind Kind, long Step, long Cost, int Pick)
    {
        public override string ToString() => $"{Kind}(step {Step}, cost {Cost}, pick {Pick})";
    }

    public sealed record Scenario(PolicyDefinition Policy, Op[] Ops)
    {
        /// <summary>The caller's "now" for each op: steps from <see cref="Origin"/>, kept inside DateTimeOffset's range.</summary>
        public long[] Times()
        {
            var times = new long[Ops.Length];
            var t = Origin;
            for (var i = 0; i < Ops.Length; i++)
            {
                t = Math.Clamp(t + Ops[i].Step, 0, MaxTicks);
                times[i] = t;
            }

            return times;
        }

        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"{Policy.Algorithm} limit {Policy.Limit} window {Policy.Window.Ticks} burst {Policy.Burst} ttl {Policy.LeaseTtl.Ticks} period {Policy.Period} zone {Policy.TimeZone} first {Policy.FirstDayOfWeek}");
            foreach (var op in Ops)
            {
                text.Append("\n  ").Append(op);
            }

            return text.ToString();
        }
    }

    // ---------------------------------------------------------------- generators

    private static Gen<PolicyDefinition> PolicyOf(AlgorithmKind algorithm, Gen<long> limits) => algorithm switch
    {
        AlgorithmKind.TokenBucket => Gen.Select(
            limits,
            Gen.OneOf(Windows),
            Gen.Frequency((1, Gen.Const((long?)null)), (3, Gen.Long[1, 10].Select(b => (long?)b))),
            (limit, window, burst) => new PolicyDefinition
            {
                Name = "p",
                Algorithm = algorithm,
                Limit = limit,
                Window = TimeSpan.FromTicks(window),

                // A bucket may take at most 10 years to refill (PolicyDefinition.Validate): such a burst is the limit's.
                Burst = burst is { } b && (Int128)b * window / limit > PolicyDefinition.MaxWindow.Ticks ? null : burst,
            }),
        AlgorithmKind.Concurrency => Gen.Select(
            limits,
            Gen.OneOf(Windows),
            (limit, ttl) => new PolicyDefinition { Name = "p", Algorithm = algorithm, Limit = limit, LeaseTtl = TimeSpan.FromTicks(ttl) }),
        AlgorithmKind.Calendar => Gen.Select(
            limits,
            Gen.OneOf(Zones),
            Gen.OneOf(CalendarPeriod.Day, CalendarPeriod.Week, CalendarPeriod.Month),
            Gen.Enum<DayOfWeek>(),
            (limit, zone, period, first) => new PolicyDefinition
            {
                Name = "p",
                Algorithm = algorithm,
                Limit = limit,
                Period = period,
                TimeZone = zone,
                FirstDayOfWeek = first,
            }),
        _ => Gen.Select(
            limits,
            Gen.OneOf(Windows),
            (limit, window) => new PolicyDefinition { Name = "p", Algorithm = algorithm, Limit = limit, Window = TimeSpan.FromTicks(window) }),
    };

    /// <summary>The natural time scale of a policy: its window, lease TTL or period.</summary>
    private static long Unit(PolicyDefinition policy) => policy.Algorithm switch
    {
        AlgorithmKind.Concurrency => policy.LeaseTtl.Ticks,
        AlgorithmKind.Calendar => policy.Period switch
        {
            CalendarPeriod.Day => TimeSpan.TicksPerDay,
            CalendarPeriod.Week => 7 * TimeSpan.TicksPerDay,
            _ => 31 * TimeSpan.TicksPerDay,
        },
        _ => policy.Window.Ticks,
    };

    /// <summary>Steps: 0, small, about one unit, a few units, occasionally huge, occasionally backwards.</summary>
    private static Gen<long> Step(long unit, int huge) => Gen.Frequency(
        (6, Gen.Const(0L)),
        (6, Gen.Long[1, Math.Max(1, unit / 10)]),
        (4, Gen.Long[-2, 2].Select(d => unit + d)),
        (6, Gen.Long[0, 3 * unit]),
        (2, Gen.Long[-2 * unit, -1]),
        (huge, Gen.Long[0, MaxTicks]),
        (huge, Gen.Long[-MaxTicks, -1]));

    private static Gen<long> Cost(long capacity) => Gen.Frequency(
        (2, Gen.Const(0L)),
        (20, Gen.Long[1, capacity > long.MaxValue - 2 ? capacity : capacity + 2]),
        (1, Gen.Long[long.MaxValue - 2, long.MaxValue]));

    private static Gen<long> Actual(long capacity) => Gen.Frequency(
        (12, Gen.Long[0, capacity > long.MaxValue / 4 ? capacity : (2 * capacity) + 2]),
        (1, Gen.Long[long.MaxValue - 2, long.MaxValue]));

    private static Gen<Op> OpOf(PolicyDefinition policy, int huge, bool acquireOnly, bool settles)
    {
        var unit = Unit(policy);
        var acquire = Gen.Select(Step(unit, huge), Cost(policy.Capacity), (step, cost) => new Op(OpKind.Acquire, step, cost, 0));
        if (acquireOnly)
        {
            return acquire;
        }

        var pick = Gen.Int[0, 1_000];
        var refund = Gen.Select(Step(unit, huge), pick, (step, p) => new Op(OpKind.Refund, step, 0, p));
        var settle = Gen.Select(Step(unit, huge), Actual(policy.Capacity), pick, (step, actual, p) => new Op(OpKind.Settle, step, actual, p));
        var release = Gen.Select(Step(unit, huge), pick, (step, p) => new Op(OpKind.Release, step, 0, p));
        var renew = Gen.Select(Step(unit, huge), pick, (step, p) => new Op(OpKind.Renew, step, 0, p));
        var choices = new List<(int, IGen<Op>)> { (12, acquire), (3, refund) };
        if (settles)
        {
            choices.Add((3, settle));
        }

        if (policy.Algorithm == AlgorithmKind.Concurrency)
        {
            choices.Add((2, release));
            choices.Add((2, renew));
        }

        return Gen.Frequency([.. choices]);
    }

    private static Gen<Scenario> Scenarios(
        AlgorithmKind algorithm,
        int huge = 1,
        bool acquireOnly = false,
        bool settles = true,
        Gen<long>? limits = null) =>
        PolicyOf(algorithm, limits ?? Gen.Long[1, 8]).SelectMany(policy =>
            OpOf(policy, huge, acquireOnly, settles).Array[1, 30].Select(ops => new Scenario(policy, ops)));

    public static readonly TheoryData<AlgorithmKind> AllAlgorithms = new(Enum.GetValues<AlgorithmKind>());

    // ---------------------------------------------------------------- running a scenario

    /// <summary>What one op produced: the decision of an acquire, or the usage after any other op (and its flag).</summary>
    public readonly record struct Outcome(OpKind Kind, Decision Decision, long Remaining, TimeSpan ResetAfter, bool Flag, long Clock);

    /// <summary>The operations a limiter and a reference model both answer, on UTC ticks.</summary>
    private interface IModel
    {
        long Clock { get; }

        Decision Acquire(long cost, long now);

        void Refund(Grant grant, long now);

        UsageSnapshot Settle(Grant reservation, long actual, long now);

        UsageSnapshot Usage(long now);

        bool Release(long leaseId, long now);

        bool Renew(long leaseId, long now);
    }

    private sealed class Real(Limiter limiter) : IModel
    {
        public Limiter Limiter { get; } = limiter;

        public long Clock => Limiter.ClockTicks;

        private static DateTimeOffset At(long ticks) => new(ticks, TimeSpan.Zero);

        public Decision Acquire(long cost, long now) => Limiter.Acquire(cost, At(now));

        public void Refund(Grant grant, long now) => Limiter.Refund(grant, At(now));

        public UsageSnapshot Settle(Grant reservation, long actual, long now) => Limiter.Settle(reservation, actual, At(now));

        public UsageSnapshot Usage(long now) => Limiter.GetUsage(At(now));

        public bool Release(long leaseId, long now) => ((ConcurrencyLimiter)Limiter).Release(leaseId, At(now));

        public bool Renew(long leaseId, long now) => ((ConcurrencyLimiter)Limiter).Renew(leaseId, At(now));
    }

    /// <summary>
    /// Runs <paramref name="ops"/> at <paramref name="times"/>, checking on every answer what must hold whatever
    /// the input. With <paramref name="insertAt"/> &gt;= 0, first acquires and at once refunds
    /// <paramref name="insertCost"/> before that op, at the model's current time, without recording either.
    /// </summary>
    private static List<Outcome> Run(IModel model, PolicyDefinition policy, Op[] ops, long[] times, int insertAt = -1, long insertCost = 0)
    {
        var outcomes = new List<Outcome>(ops.Length);
        var grants = new List<Grant>();
        for (var i = 0; i < ops.Length; i++)
        {
            if (i == insertAt)
            {
                var at = i == 0 ? times[0] : model.Clock;
                var inserted = model.Acquire(insertCost, at);
                model.Refund(inserted.Grant, at);
            }

            var op = ops[i];
            var now = times[i];
            var outcome = op.Kind switch
            {
                OpKind.Acquire => Acquired(model.Acquire(op.Cost, now)),
                OpKind.Refund when grants.Count > 0 => Refunded(grants[op.Pick % grants.Count], now),
                OpKind.Settle when grants.Count > 0 => Usage(op.Kind, model.Settle(grants[op.Pick % grants.Count], op.Cost, now), false),
                OpKind.Release when grants.Count > 0 => Flagged(op.Kind, model.Release(grants[op.Pick % grants.Count].LeaseNumber, now), now),
                OpKind.Renew when grants.Count > 0 => Flagged(op.Kind, model.Renew(grants[op.Pick % grants.Count].LeaseNumber, now), now),
                _ => Usage(op.Kind, model.Usage(now), false),
            };
            outcomes.Add(outcome with { Clock = model.Clock });
            CheckAlways(policy, op, outcome);
            if (op.Kind == OpKind.Acquire && outcome.Decision.Allowed && op.Cost > 0)
            {
                grants.Add(outcome.Decision.Grant);
            }
        }

        return outcomes;

        Outcome Acquired(Decision d) => new(OpKind.Acquire, d, d.Remaining, d.ResetAfter, d.Allowed, 0);

        Outcome Refunded(Grant grant, long now)
        {
            model.Refund(grant, now);
            return Usage(OpKind.Refund, model.Usage(now), false);
        }

        Outcome Flagged(OpKind kind, bool flag, long now) => Usage(kind, model.Usage(now), flag);

        static Outcome Usage(OpKind kind, UsageSnapshot usage, bool flag) => new(kind, default, usage.Remaining, usage.ResetAfter, flag, 0);
    }

    /// <summary>What every answer satisfies, whatever the input.</summary>
    private static void CheckAlways(PolicyDefinition policy, Op op, Outcome outcome)
    {
        Assert.InRange(outcome.Remaining, 0, policy.Capacity);
        Assert.True(outcome.ResetAfter >= TimeSpan.Zero);
        if (op.Kind != OpKind.Acquire)
        {
            return;
        }

        var d = outcome.Decision;
        Assert.Equal(policy.Capacity, d.Limit);
        Assert.True(d.RetryAfter >= TimeSpan.Zero);
        if (d.Allowed)
        {
            Assert.Equal(DenialReason.None, d.Reason);
            Assert.Equal(TimeSpan.Zero, d.RetryAfter);
            Assert.Equal(op.Cost, d.Grant.Cost);
        }
        else if (op.Cost > policy.Capacity)
        {
            Assert.Equal(DenialReason.CostExceedsLimit, d.Reason);
            Assert.Equal(Decision.Never, d.RetryAfter);
            Assert.Equal(default, d.Grant);
        }
        else
        {
            Assert.Equal(DenialReason.LimitExhausted, d.Reason);
            Assert.True(d.RetryAfter > TimeSpan.Zero);
            Assert.Equal(default, d.Grant);
        }
    }

    private static List<Outcome> RunReal(Scenario s, long[]? times = null, int insertAt = -1, long insertCost = 0) =>
        Run(new Real(s.Policy.CreateLimiter()), s.Policy, s.Ops, times ?? s.Times(), insertAt, insertCost);

    // ---------------------------------------------------------------- properties for every algorithm

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void AfterADenialTheSameRequestIsAdmittedExactlyAtRetryAfterAndDeniedOneTickBefore(AlgorithmKind algorithm)
    {
        Scenarios(algorithm).Sample(s =>
        {
            var times = s.Times();
            var outcomes = RunReal(s, times);
            for (var i = 0; i < s.Ops.Length; i++)
            {
                var o = outcomes[i];
                if (o.Kind != OpKind.Acquire || o.Decision.Allowed || o.Decision.RetryAfter == Decision.Never
                    || o.Decision.RetryAfter.Ticks > MaxTicks - o.Clock)
                {
                    continue;
                }

                // A denial changes no state, so replaying the ops before it gives a faithful clone.
                var clone = new Real(s.Policy.CreateLimiter());
                Run(clone, s.Policy, s.Ops[..i], times[..i]);
                var retry = o.Clock + o.Decision.RetryAfter.Ticks;
                var cost = s.Ops[i].Cost;

                var early = clone.Acquire(cost, retry - 1);
                Assert.False(early.Allowed, $"op {i}: cost {cost} admitted one tick before retry-after {o.Decision.RetryAfter.Ticks}");
                Assert.Equal(1, early.RetryAfter.Ticks);
                Assert.True(clone.Acquire(cost, retry).Allowed, $"op {i}: cost {cost} denied at retry-after {o.Decision.RetryAfter.Ticks}");
            }
        }, iter: Iterations, print: s => s.ToString());
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void AClockGoingBackwardsAnswersExactlyAsIfItHadStoodStill(AlgorithmKind algorithm)
    {
        Scenarios(algorithm).Sample(s =>
        {
            var times = s.Times();
            var stood = new long[times.Length];
            var latest = 0L;
            for (var i = 0; i < times.Length; i++)
            {
                latest = Math.Max(latest, times[i]);
                stood[i] = latest;
            }

            Assert.Equal(RunReal(s, stood), RunReal(s, times));
        }, iter: Iterations, print: s => s.ToString());
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void AnAcquireRefundedAtOnceLeavesEveryLaterAnswerUnchanged(AlgorithmKind algorithm)
    {
        Scenarios(algorithm)
            .SelectMany(s => Gen.Select(Gen.Int[0, s.Ops.Length - 1], Cost(s.Policy.Capacity), (at, cost) => (s, at, cost)))
            .Sample((s, at, cost) =>
            {
                var times = s.Times();
                var plain = RunReal(s, times).Select(WithoutLeaseNumber);
                var withInsert = RunReal(s, times, at, cost).Select(WithoutLeaseNumber);
                Assert.Equal(plain, withInsert);
            }, iter: Iterations, print: t => $"insert cost {t.Item3} before op {t.Item2}: {t.Item1}");

        // Lease ids count every lease ever opened, so an inserted lease shifts later ids; nothing else may change.
        static Outcome WithoutLeaseNumber(Outcome o) => o with { Decision = o.Decision with { Grant = o.Decision.Grant with { LeaseNumber = 0 } } };
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void ExtremeTimesCostsAndLimitsNeverThrowNorGoNegative(AlgorithmKind algorithm)
    {
        var limits = Gen.Frequency(
            (3, Gen.Long[1, 8]),
            (1, Gen.Long[1, algorithm == AlgorithmKind.SlidingLog ? PolicyDefinition.MaxSlidingLogLimit : PolicyDefinition.MaxLimit]),
            (1, Gen.Const(algorithm == AlgorithmKind.SlidingLog ? PolicyDefinition.MaxSlidingLogLimit : PolicyDefinition.MaxLimit)));

        // CheckAlways runs on every answer; reaching the end without an exception is the rest of the property.
        Scenarios(algorithm, huge: 8, limits: limits).Sample(s => Assert.Equal(s.Ops.Length, RunReal(s).Count), iter: Iterations, print: s => s.ToString());
    }

    // ---------------------------------------------------------------- reference models

    /// <summary>The parts of a reference model every algorithm shares: the clock that never goes back, and the decision shape.</summary>
    private abstract class Reference(long capacity) : IModel
    {
        protected long Capacity { get; } = capacity;

        public long Clock { get; private set; }

        protected long Advance(long now)
        {
            Clock = Math.Max(Clock, now);
            Expire(Clock);
            return Clock;
        }

        protected static TimeSpan Ticks(BigInteger ticks) =>
            ticks <= 0 ? TimeSpan.Zero : ticks >= long.MaxValue ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);

        protected static long Saturate(BigInteger value) => value <= 0 ? 0 : value >= long.MaxValue ? long.MaxValue : (long)value;

        public Decision Acquire(long cost, long now)
        {
            var t = Advance(now);
            if (cost == 0)
            {
                return Remaining(t) > 0
                    ? new(true, DenialReason.None, Capacity, Remaining(t), Ticks(Reset(t)), TimeSpan.Zero, default)
                    : new(false, DenialReason.LimitExhausted, Capacity, 0, Ticks(Reset(t)), Ticks(Retry(1, t)), default);
            }

            if (cost > Capacity)
            {
                return new(false, DenialReason.CostExceedsLimit, Capacity, Remaining(t), Ticks(Reset(t)), Decision.Never, default);
            }

            if (Take(cost, t) is { } leaseId)
            {
                return new(true, DenialReason.None, Capacity, Remaining(t), Ticks(Reset(t)), TimeSpan.Zero, new Grant(cost, t, leaseId));
            }

            return new(false, DenialReason.LimitExhausted, Capacity, Remaining(t), Ticks(Reset(t)), Ticks(Retry(cost, t)), default);
        }

        public void Refund(Grant grant, long now)
        {
            var t = Advance(now);
            if (grant.Cost > 0)
            {
                GiveBack(grant, grant.Cost, t);
            }
        }

        public UsageSnapshot Settle(Grant reservation, long actual, long now)
        {
            var t = Advance(now);
            if (actual < reservation.Cost)
            {
                GiveBack(reservation, reservation.Cost - actual, t);
            }
            else if (actual > reservation.Cost)
            {
                TopUp(reservation, actual - reservation.Cost, t);
            }

            return Snapshot(t);
        }

        public UsageSnapshot Usage(long now) => Snapshot(Advance(now));

        public virtual bool Release(long leaseId, long now) => throw new NotSupportedException();

        public virtual bool Renew(long leaseId, long now) => throw new NotSupportedException();

        private UsageSnapshot Snapshot(long t) => new(Capacity, 0, Remaining(t), Ticks(Reset(t)));

        protected abstract void Expire(long now);

        /// <summary>Takes the cost if it fits; the lease id (0 for windows), or null when it does not fit.</summary>
        protected abstract long? Take(long cost, long now);

        protected abstract long Remaining(long now);

        protected abstract BigInteger Retry(long cost, long now);

        protected abstract BigInteger Reset(long now);

        protected abstract void GiveBack(Grant grant, long cost, long now);

        protected abstract void TopUp(Grant reservation, long extra, long now);
    }

    /// <summary>A counter per window [k·W, (k+1)·W) since the Unix epoch.</summary>
    private sealed class FixedWindowReference(long limit, long window) : Reference(limit)
    {
        private long _start = long.MinValue;
        private BigInteger _used;

        private long End => _start + window;

        protected override void Expire(long now)
        {
            // k = floor((now − epoch) / window), rounding down for times before the epoch too.
            var sinceEpoch = now - DateTime.UnixEpoch.Ticks;
            var k = sinceEpoch / window;
            if (sinceEpoch % window < 0)
            {
                k--;
            }

            var start = DateTime.UnixEpoch.Ticks + (k * window);
            if (start != _start)
            {
                _start = start;
                _used = 0;
            }
        }

        protected override long? Take(long cost, long now)
        {
            if (_used + cost > Capacity)
            {
                return null;
            }

            _used += cost;
            return 0;
        }

        protected override long Remaining(long now) => Saturate(Capacity - _used);

        protected override BigInteger Retry(long cost, long now) => End - now;

        protected override BigInteger Reset(long now) => _used > 0 ? End - now : 0;

        protected override void GiveBack(Grant grant, long cost, long now)
        {
            if (grant.AcquiredAtTicks >= _start)
            {
                _used -= BigInteger.Min(cost, _used);
            }
        }

        protected override void TopUp(Grant reservation, long extra, long now) => _used += extra;
    }

    /// <summary>Every grant with its time; a grant counts while now − time &lt; window.</summary>
    private sealed class SlidingLogReference(long limit, long window) : Reference(limit)
    {
        private readonly SortedDictionary<long, BigInteger> _grants = [];

        private BigInteger Sum => _grants.Values.Aggregate(BigInteger.Zero, (a, b) => a + b);

        protected override void Expire(long now)
        {
            foreach (var time in _grants.Keys.Where(time => now - time >= window).ToList())
            {
                _grants.Remove(time);
            }
        }

        protected override long? Take(long cost, long now)
        {
            if (Sum + cost > Capacity)
            {
                return null;
            }

            Add(cost, now);
            return 0;
        }

        private void Add(long cost, long now) => _grants[now] = _grants.GetValueOrDefault(now) + cost;

        protected override long Remaining(long now) => Saturate(Capacity - Sum);

        protected override BigInteger Retry(long cost, long now)
        {
            var needed = Sum - (Capacity - cost);
            var freed = BigInteger.Zero;
            foreach (var (time, counted) in _grants)
            {
                freed += counted;
                if (counted > 0 && freed >= needed)
                {
                    return time + window - now;
                }
            }

            throw new InvalidOperationException("a denied request always waits for some grant to expire");
        }

        protected override BigInteger Reset(long now)
        {
            var counted = _grants.Where(g => g.Value > 0).ToList();
            return counted.Count == 0 ? 0 : counted[^1].Key + window - now;
        }

        protected override void GiveBack(Grant grant, long cost, long now)
        {
            if (_grants.TryGetValue(grant.AcquiredAtTicks, out var counted))
            {
                _grants[grant.AcquiredAtTicks] = counted - BigInteger.Min(cost, counted);
            }
        }

        protected override void TopUp(Grant reservation, long extra, long now) => Add(extra, now);
    }

    /// <summary>
    /// A continuous token bucket in exact integers: tokens scaled by the window, refilled by <c>limit</c> per tick,
    /// capped at <c>burst × window</c>; a request of cost c needs <c>c × window</c>. A refund gives back at most what
    /// of the grant can still be counted: all of a grant's permits have refilled <c>burst × window / limit</c> after it.
    /// </summary>
    private sealed class TokenBucketReference(long limit, long window, long burst) : Reference(burst)
    {
        private readonly BigInteger _full = (BigInteger)burst * window;
        private BigInteger _tokens = (BigInteger)burst * window;
        private long _last;

        protected override void Expire(long now)
        {
            _tokens = BigInteger.Min(_full, _tokens + ((BigInteger)(now - _last) * limit));
            _last = now;
        }

        protected override long? Take(long cost, long now)
        {
            if (_tokens < (BigInteger)cost * window)
            {
                return null;
            }

            _tokens -= (BigInteger)cost * window;
            return 0;
        }

        protected override long Remaining(long now) => _tokens <= 0 ? 0 : Saturate(_tokens / window);

        protected override BigInteger Retry(long cost, long now) => CeilDiv(((BigInteger)cost * window) - _tokens, limit);

        protected override BigInteger Reset(long now) => CeilDiv(_full - _tokens, limit);

        private static BigInteger CeilDiv(BigInteger a, long b) => a <= 0 ? 0 : (a + b - 1) / b;

        protected override void GiveBack(Grant grant, long cost, long now)
        {
            var stillCounted = BigInteger.Max(0, _full - ((BigInteger)(now - grant.AcquiredAtTicks) * limit));
            _tokens = BigInteger.Min(_full, _tokens + BigInteger.Min((BigInteger)cost * window, stillCounted));
        }

        // Debt saturates at ten years of refill (PolicyDefinition.MaxWindow), so reset and retry stay real durations.
        protected override void TopUp(Grant reservation, long extra, long now) =>
            _tokens = BigInteger.Max(_tokens - ((BigInteger)extra * window), _full - ((BigInteger)PolicyDefinition.MaxWindow.Ticks * limit));
    }

    /// <summary>Leases with a cost and an expiry; a lease counts until released or until now reaches its expiry.</summary>
    private sealed class ConcurrencyReference(long limit, long ttl) : Reference(limit)
    {
        private readonly Dictionary<long, (BigInteger Cost, long Expires)> _leases = [];
        private long _nextId;

        private BigInteger InUse => _leases.Values.Aggregate(BigInteger.Zero, (a, l) => a + l.Cost);

        public BigInteger LiveCost => InUse;

        protected override void Expire(long now)
        {
            foreach (var id in _leases.Where(l => l.Value.Expires <= now).Select(l => l.Key).ToList())
            {
                _leases.Remove(id);
            }
        }

        private long Open(BigInteger cost, long now)
        {
            _leases[++_nextId] = (cost, Saturate((BigInteger)now + ttl));
            return _nextId;
        }

        protected override long? Take(long cost, long now) => InUse + cost > Capacity ? null : Open(cost, now);

        protected override long Remaining(long now) => Saturate(Capacity - InUse);

        protected override BigInteger Retry(long cost, long now)
        {
            var needed = InUse - (Capacity - cost);
            var freed = BigInteger.Zero;
            foreach (var lease in _leases.Values.OrderBy(l => l.Expires))
            {
                freed += lease.Cost;
                if (freed >= needed)
                {
                    return lease.Expires - now;
                }
            }

            throw new InvalidOperationException("a denied request always waits for some lease to expire");
        }

        protected override BigInteger Reset(long now) => _leases.Count == 0 ? 0 : Math.Max(now, _leases.Values.Max(l => l.Expires)) - now;

        protected override void GiveBack(Grant grant, long cost, long now)
        {
            if (_leases.TryGetValue(grant.LeaseNumber, out var lease))
            {
                var back = BigInteger.Min(cost, lease.Cost);
                if (back == lease.Cost)
                {
                    _leases.Remove(grant.LeaseNumber);
                }
                else
                {
                    _leases[grant.LeaseNumber] = lease with { Cost = lease.Cost - back };
                }
            }
        }

        protected override void TopUp(Grant reservation, long extra, long now)
        {
            if (_leases.TryGetValue(reservation.LeaseNumber, out var lease))
            {
                _leases[reservation.LeaseNumber] = lease with { Cost = lease.Cost + extra };
            }
            else
            {
                Open(extra, now);
            }
        }

        public override bool Release(long leaseId, long now)
        {
            Advance(now);
            return _leases.Remove(leaseId);
        }

        public override bool Renew(long leaseId, long now)
        {
            var t = Advance(now);
            if (!_leases.TryGetValue(leaseId, out var lease))
            {
                return false;
            }

            _leases[leaseId] = lease with { Expires = Saturate((BigInteger)t + ttl) };
            return true;
        }
    }

    private static Reference ReferenceFor(PolicyDefinition policy) => policy.Algorithm switch
    {
        AlgorithmKind.FixedWindow => new FixedWindowReference(policy.Limit, policy.Window.Ticks),
        AlgorithmKind.SlidingLog => new SlidingLogReference(policy.Limit, policy.Window.Ticks),
        AlgorithmKind.TokenBucket => new TokenBucketReference(policy.Limit, policy.Window.Ticks, policy.Capacity),
        AlgorithmKind.Concurrency => new ConcurrencyReference(policy.Limit, policy.LeaseTtl.Ticks),
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy.Algorithm, "no reference model"),
    };

    [Theory]
    [InlineData(AlgorithmKind.FixedWindow)]
    [InlineData(AlgorithmKind.SlidingLog)]
    [InlineData(AlgorithmKind.TokenBucket)]
    [InlineData(AlgorithmKind.Concurrency)]
    public void EveryAnswerIsIdenticalToTheReferenceModel(AlgorithmKind algorithm)
    {
        Scenarios(algorithm).Sample(s =>
        {
            var times = s.Times();
            var expected = Run(ReferenceFor(s.Policy), s.Policy, s.Ops, times);
            var actual = RunReal(s, times);
            for (var i = 0; i < s.Ops.Length; i++)
            {
                Assert.True(expected[i] == actual[i], $"op {i} {s.Ops[i]} at {times[i]}:\n expected {expected[i]}\n actual   {actual[i]}");
            }
        }, iter: 2 * Iterations, print: s => s.ToString());
    }

    // ---------------------------------------------------------------- sliding window bounds

    [Fact]
    public void TheWeightedSlidingWindowAdmitsAtMostTheLimitPerAlignedBucketAndWithinItsDocumentedErrorPerWindow()
    {
        Scenarios(AlgorithmKind.SlidingWindow, acquireOnly: true).Sample(s =>
        {
            var limit = s.Policy.Limit;
            var window = s.Policy.Window.Ticks;
            var limiter = new Real(s.Policy.CreateLimiter());
            var times = s.Times();
            var admitted = new List<(long Time, long Cost)>();
            var perBucket = new Dictionary<long, long>();
            for (var i = 0; i < s.Ops.Length; i++)
            {
                var d = limiter.Acquire(s.Ops[i].Cost, times[i]);
                if (!d.Allowed || s.Ops[i].Cost == 0)
                {
                    continue;
                }

                var t = limiter.Clock;
                var bucket = BucketStart(t, window);
                admitted.Add((t, s.Ops[i].Cost));
                perBucket[bucket] = perBucket.GetValueOrDefault(bucket) + s.Ops[i].Cost;
                Assert.True(perBucket[bucket] <= limit, $"bucket at {bucket} admitted {perBucket[bucket]} > {limit}");

                // In (t − window, t]: at most limit + previous × elapsed / window, which is below 2 × limit.
                var inWindow = admitted.Where(a => a.Time > t - window).Aggregate(BigInteger.Zero, (sum, a) => sum + a.Cost);
                var previous = perBucket.GetValueOrDefault(bucket - window);
                var elapsed = t - bucket;
                Assert.True(inWindow * window <= ((BigInteger)limit * window) + ((BigInteger)previous * elapsed), $"{inWindow} admitted in the window ending {t}, previous bucket {previous}, elapsed {elapsed}");
                Assert.True(inWindow < 2 * limit);
            }
        }, iter: 4 * Iterations, print: s => s.ToString());

        static long BucketStart(long t, long window)
        {
            var offset = (t - DateTime.UnixEpoch.Ticks) % window;
            return t - (offset < 0 ? offset + window : offset);
        }
    }

    // ---------------------------------------------------------------- concurrency bound

    /// <summary>
    /// Between two operations live leases only expire, so checking at every operation's instant covers every
    /// instant. Top-ups are left out: they may legitimately push usage above the limit.
    /// </summary>
    [Fact]
    public void LiveLeasesNeverHoldMoreThanTheLimitWithoutTopUps()
    {
        Scenarios(AlgorithmKind.Concurrency, settles: false).Sample(s =>
        {
            var real = new Real(s.Policy.CreateLimiter());
            var reference = (ConcurrencyReference)ReferenceFor(s.Policy);
            var times = s.Times();
            var grants = new List<Grant>();
            for (var i = 0; i < s.Ops.Length; i++)
            {
                var op = s.Ops[i];
                var now = times[i];
                switch (op.Kind)
                {
                    case OpKind.Acquire:
                        var d = real.Acquire(op.Cost, now);
                        Assert.Equal(reference.Acquire(op.Cost, now), d);
                        if (d.Allowed && op.Cost > 0)
                        {
                            grants.Add(d.Grant);
                        }

                        break;
                    case OpKind.Refund when grants.Count > 0:
                        real.Refund(grants[op.Pick % grants.Count], now);
                        reference.Refund(grants[op.Pick % grants.Count], now);
                        break;
                    case OpKind.Release when grants.Count > 0:
                        Assert.Equal(reference.Release(grants[op.Pick % grants.Count].LeaseNumber, now), real.Release(grants[op.Pick % grants.Count].LeaseNumber, now));
                        break;
                    case OpKind.Renew when grants.Count > 0:
                        Assert.Equal(reference.Renew(grants[op.Pick % grants.Count].LeaseNumber, now), real.Renew(grants[op.Pick % grants.Count].LeaseNumber, now));
                        break;
                }

                var used = real.Usage(now).Used;
                reference.Usage(now);
                Assert.Equal(reference.LiveCost, used);
                Assert.InRange(used, 0, s.Policy.Limit);
            }
        }, iter: 2 * Iterations, print: s => s.ToString());
    }
}
