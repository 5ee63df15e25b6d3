using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Grains.Subjects;

/// <summary>
/// A subject's policies and their windows, deciding all or nothing: a request takes its cost on every policy or on
/// none. Plain code without Orleans: time is an argument, nothing is logged, stored or awaited; the grain that owns it
/// serialises the calls.
/// </summary>
/// <remarks>
/// <para><b>All or nothing.</b> <see cref="TryTake"/> asks every policy, even after a denial (so the retry-after covers
/// all of them), and refunds the grants made before a denial at the same instant, which restores their state exactly
/// (the limiter's NOTE).</para>
/// <para><b>Would it fit?</b> <see cref="Check"/> answers the same question without taking anything, so a caller that is
/// only told "not before the queue ahead of you" costs no take and refund.</para>
/// <para><b>The limiter's own numbers.</b> An answer's readings are the numbers each limiter gave with its decision
/// (remaining, reset, retry-after), not read again afterwards; only a policy whose grant was refunded is read anew.</para>
/// <para>The hot path allocates the answer's readings and, for a cost above 0, one array of grants: no lists, LINQ or
/// closures per decision.</para>
/// </remarks>
internal sealed class SubjectLimits
{
    private Limiter[] _limiters = [];

    /// <summary>How many policies the subject has.</summary>
    public int Count => _limiters.Length;

    /// <summary>The limiters, in the order of the subject's policies (for the checkpoint bookkeeping).</summary>
    public IReadOnlyList<Limiter> Limiters => _limiters;

    /// <summary>Whether any policy's counter is checkpointed (see <see cref="Storage.DurableCounters.IsDurable"/>).</summary>
    public bool HasDurable { get; private set; }

    /// <summary>The limiter enforcing <paramref name="policy"/> now, or null.</summary>
    public Limiter? Find(string? policy)
    {
        foreach (var limiter in _limiters)
        {
            if (limiter.Policy.Name == policy)
            {
                return limiter;
            }
        }

        return null;
    }

    /// <summary>The algorithm of the policy named <paramref name="policy"/>; null for no such policy (or a gate's name).</summary>
    public AlgorithmKind? AlgorithmOf(string? policy) => Find(policy)?.Policy.Algorithm;

    /// <summary>Whether <paramref name="policy"/> is a concurrency policy, whose permits can come back before time frees them.</summary>
    public bool IsConcurrency(string? policy) => Find(policy) is ConcurrencyLimiter;

    /// <summary>
    /// Takes <paramref name="cost"/> on every policy at <paramref name="now"/>, or on none: a denial changes nothing.
    /// </summary>
    /// <returns>The verdict; when allowed with a cost above 0, one grant per policy in policy order.</returns>
    public LimitsVerdict TryTake(long cost, DateTimeOffset now)
    {
        var readings = new PolicyReading[_limiters.Length];
        var grants = cost > 0 && _limiters.Length > 0 ? new PolicyGrant[_limiters.Length] : [];
        var granted = 0;
        var tally = default(Tally);
        for (var i = 0; i < _limiters.Length; i++)
        {
            var limiter = _limiters[i];
            var decision = limiter.Acquire(cost, now);
            readings[i] = Reading(limiter, decision.Limit, decision.Remaining, decision.ResetAfter);
            if (decision.Allowed)
            {
                if (cost > 0)
                {
                    grants[i] = new PolicyGrant(limiter.Policy.Name, decision.Grant.Cost, decision.Grant.AcquiredAtTicks, decision.Grant.LeaseNumber);
                    granted++;
                }

                continue;
            }

            tally.Add(limiter, decision);
        }

        if (tally.Outcome == DecisionOutcome.Allowed)
        {
            return new LimitsVerdict(DecisionOutcome.Allowed, null, TimeSpan.Zero, readings, grants);
        }

        if (granted > 0)
        {
            // Give back what the others granted, at the same instant, and read those policies again.
            for (var i = 0; i < grants.Length; i++)
            {
                if (grants[i] is { } grant)
                {
                    var limiter = _limiters[i];
                    limiter.Refund(new Grant(grant.Cost, grant.AtTicks, grant.LeaseNumber), now);
                    var usage = limiter.GetUsage(now);
                    readings[i] = Reading(limiter, usage.Limit, usage.Remaining, usage.ResetAfter);
                }
            }
        }

        return new LimitsVerdict(tally.Outcome, tally.LimitedBy, tally.RetryAfter, readings, []);
    }

    /// <summary>
    /// Whether <paramref name="cost"/> would be admitted by every policy at <paramref name="now"/>, answered without
    /// taking anything: the same outcome, denying policy, retry-after and readings <see cref="TryTake"/> would give,
    /// except that an admitted request is not counted (and has no grants).
    /// </summary>
    public LimitsVerdict Check(long cost, DateTimeOffset now)
    {
        var readings = new PolicyReading[_limiters.Length];
        var tally = default(Tally);
        for (var i = 0; i < _limiters.Length; i++)
        {
            var limiter = _limiters[i];
            var usage = limiter.GetUsage(now);
            if (cost > 0 && cost <= limiter.Capacity && usage.Remaining >= cost)
            {
                // Remaining is exactly what a take of this cost would be allowed (every algorithm's TryTake admits
                // cost <= Remaining), so the limiter is not asked to take.
                readings[i] = Reading(limiter, usage.Limit, usage.Remaining, usage.ResetAfter);
                continue;
            }

            // A peek, or a cost too big or not fitting: the limiter's answer takes nothing in these cases.
            var decision = limiter.Acquire(cost, now);
            readings[i] = Reading(limiter, decision.Limit, decision.Remaining, decision.ResetAfter);
            if (!decision.Allowed)
            {
                tally.Add(limiter, decision);
            }
        }

        return new LimitsVerdict(tally.Outcome, tally.LimitedBy, tally.RetryAfter, readings, []);
    }

    /// <summary>Whether every policy has at least <paramref name="cost"/> permits left now (takes nothing).</summary>
    public bool Fits(long cost, DateTimeOffset now)
    {
        foreach (var limiter in _limiters)
        {
            if (limiter.GetUsage(now).Remaining < cost)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Gives back grants this subject made (a request another subject denied, or a waiter that cancelled).</summary>
    /// <remarks>A grant naming a policy the subject no longer has is ignored.</remarks>
    public void Refund(PolicyGrant[] grants, DateTimeOffset now)
    {
        foreach (var grant in grants)
        {
            Find(grant.Policy)?.Refund(new Grant(grant.Cost, grant.AtTicks, grant.LeaseNumber), now);
        }
    }

    /// <summary>Every policy's state now, taking nothing.</summary>
    public PolicyReading[] Readings(DateTimeOffset now)
    {
        var readings = new PolicyReading[_limiters.Length];
        for (var i = 0; i < readings.Length; i++)
        {
            var limiter = _limiters[i];
            var usage = limiter.GetUsage(now);
            readings[i] = Reading(limiter, usage.Limit, usage.Remaining, usage.ResetAfter);
        }

        return readings;
    }

    /// <summary>
    /// True when every policy counts nothing and has nothing left to drain: the subject then answers exactly as a fresh
    /// one would (a sliding window still weighing its previous bucket, a bucket refilling or an open lease all count).
    /// </summary>
    public bool AllFull(DateTimeOffset now)
    {
        foreach (var limiter in _limiters)
        {
            var usage = limiter.GetUsage(now);
            if (usage.Used != 0 || usage.ResetAfter != TimeSpan.Zero)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The policies in force, as they apply.</summary>
    public PolicyDefinition[] Definitions()
    {
        var definitions = new PolicyDefinition[_limiters.Length];
        for (var i = 0; i < definitions.Length; i++)
        {
            definitions[i] = _limiters[i].Policy;
        }

        return definitions;
    }

    /// <summary>
    /// Puts <paramref name="definitions"/> in force, keeping usage by policy name; null or empty leaves no policies.
    /// </summary>
    /// <param name="definitions">The policies now in force.</param>
    /// <param name="carryAcrossRenames">
    /// Also keep usage across a rename (a subject configured through tenancy: an upstream's limits for a token): a
    /// policy no longer named passes its count to a new one of the same algorithm and window, else to any new one, so a
    /// hard ceiling is never reset by renaming or replacing it.
    /// </param>
    /// <param name="now">The current time.</param>
    public void Apply(IReadOnlyList<PolicyDefinition>? definitions, bool carryAcrossRenames, DateTimeOffset now)
    {
        var next = new Limiter[definitions?.Count ?? 0];
        var unmatched = carryAcrossRenames ? _limiters.Where(l => definitions?.Any(d => d.Name == l.Policy.Name) != true).ToList() : [];
        for (var i = 0; i < next.Length; i++)
        {
            var definition = definitions![i];
            var current = Find(definition.Name)
                ?? unmatched.Find(l => l.Policy.Algorithm == definition.Algorithm && l.Policy.Window == definition.Window && l.Policy.Period == definition.Period)
                ?? unmatched.FirstOrDefault();
            if (current is not null)
            {
                unmatched.Remove(current);
            }

            next[i] = current is not null ? current.Reconfigure(definition, now) : definition.CreateLimiter();
        }

        _limiters = next;
        HasDurable = Array.Exists(next, Storage.DurableCounters.IsDurable);
    }

    private static PolicyReading Reading(Limiter limiter, long limit, long remaining, TimeSpan resetAfter) => new(
        limiter.Policy.Name,
        (byte)limiter.Policy.Algorithm,
        limit,
        remaining,
        WindowSeconds(limiter),
        DecisionResults.CeilingMilliseconds(resetAfter),
        limiter.Policy.Algorithm == AlgorithmKind.TokenBucket && limiter.Policy.Limit != limit ? limiter.Policy.Limit : null);

    private static long? WindowSeconds(Limiter limiter) => limiter switch
    {
        ConcurrencyLimiter => null,
        PeriodLimiter period when limiter.Policy.Algorithm == AlgorithmKind.Calendar =>
            (period.PeriodEndTicks - period.PeriodStartTicks) / TimeSpan.TicksPerSecond,
        _ => (long)Math.Ceiling(limiter.Policy.Window.TotalSeconds),
    };

    /// <summary>Which denial an answer reports: a cost no policy can ever admit first, else the longest retry-after.</summary>
    private struct Tally
    {
        public DecisionOutcome Outcome;
        public string? LimitedBy;
        public TimeSpan RetryAfter;

        public void Add(Limiter limiter, Decision decision)
        {
            if (decision.Reason == DenialReason.CostExceedsLimit)
            {
                Outcome = DecisionOutcome.CostExceedsLimit;
                LimitedBy = limiter.Policy.Name;
                RetryAfter = Decision.Never;
            }
            else if (Outcome != DecisionOutcome.CostExceedsLimit && (Outcome == DecisionOutcome.Allowed || decision.RetryAfter > RetryAfter))
            {
                Outcome = DecisionOutcome.Denied;
                LimitedBy = limiter.Policy.Name;
                RetryAfter = decision.RetryAfter;
            }
        }
    }
}

/// <summary>What a subject's policies answer to one request.</summary>
/// <param name="Outcome">Allowed, Denied or CostExceedsLimit.</param>
/// <param name="LimitedBy">The denying policy's name (the longest retry-after, or the one the cost can never fit).</param>
/// <param name="RetryAfter">Exact time until every policy would admit the request; <see cref="Decision.Never"/> when never.</param>
/// <param name="Readings">Every policy's state after the answer.</param>
/// <param name="Grants">What was taken, one per policy, when allowed with a cost above 0; empty otherwise.</param>
internal readonly record struct LimitsVerdict(
    DecisionOutcome Outcome,
    string? LimitedBy,
    TimeSpan RetryAfter,
    PolicyReading[] Readings,
    PolicyGrant[] Grants)
{
    /// <summary>Whether every policy admitted the request.</summary>
    public bool Allowed => Outcome == DecisionOutcome.Allowed;
}
