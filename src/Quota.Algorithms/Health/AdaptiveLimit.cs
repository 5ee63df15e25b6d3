namespace Quota.Algorithms.Health;

/// <summary>How an upstream's 429s shrink a credential's limit and how it recovers.</summary>
public sealed record AdaptiveLimitOptions
{
    /// <summary>What a 429 multiplies the limit by (0 to 1, exclusive). Default: 0.5.</summary>
    public double DecreaseFactor { get; init; } = 0.5;

    /// <summary>The least the limit falls to, as a share of the configured limit (0 to 1]. Default: 0.1.</summary>
    public double MinimumFactor { get; init; } = 0.1;

    /// <summary>What the limit regains each <see cref="RecoveryInterval"/> without a 429, as a share of the configured limit. Default: 0.05.</summary>
    public double RecoveryStep { get; init; } = 0.05;

    /// <summary>How often the limit regains a step. Default: 10 seconds.</summary>
    public TimeSpan RecoveryInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>429s within this time of a decrease count as the same signal (requests already in flight). Default: 1 second.</summary>
    public TimeSpan DecreaseCooldown { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Every problem, one per bad member, naming it; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!(DecreaseFactor > 0 && DecreaseFactor < 1))
        {
            problems.Add($"DecreaseFactor must be more than 0 and less than 1 (got {DecreaseFactor}).");
        }

        if (!(MinimumFactor > 0 && MinimumFactor <= 1))
        {
            problems.Add($"MinimumFactor must be more than 0 and at most 1 (got {MinimumFactor}).");
        }

        if (!(RecoveryStep > 0 && RecoveryStep <= 1))
        {
            problems.Add($"RecoveryStep must be more than 0 and at most 1 (got {RecoveryStep}).");
        }

        if (RecoveryInterval <= TimeSpan.Zero)
        {
            problems.Add($"RecoveryInterval must be positive (got {RecoveryInterval}).");
        }

        if (DecreaseCooldown < TimeSpan.Zero)
        {
            problems.Add($"DecreaseCooldown must be 0 or more (got {DecreaseCooldown}).");
        }

        return problems;
    }
}

/// <summary>
/// Additive-increase, multiplicative-decrease of a credential's limit from what its upstream answers: a 429 multiplies
/// the current factor by <see cref="AdaptiveLimitOptions.DecreaseFactor"/> (not below the minimum), a Retry-After
/// pauses the credential until then, and every <see cref="AdaptiveLimitOptions.RecoveryInterval"/> without a 429 the
/// factor regains one step, up to 1 (the configured limit, the ceiling). Pure and deterministic: time is an argument,
/// recovery is computed when asked, times earlier than one already seen count as that one. Not thread-safe.
/// </summary>
public sealed class AdaptiveLimit
{
    private readonly AdaptiveLimitOptions _options;
    private double _factor = 1;
    private DateTimeOffset _decreasedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _pausedUntil = DateTimeOffset.MinValue;
    private DateTimeOffset _latest = DateTimeOffset.MinValue;

    /// <summary>Creates one at the full limit.</summary>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    public AdaptiveLimit(AdaptiveLimitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { Count: > 0 } problems)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        _options = options;
    }

    /// <summary>How many 429s decreased the limit so far.</summary>
    public long Decreases { get; private set; }

    /// <summary>The share of the configured limit in force at <paramref name="now"/> (0 to 1).</summary>
    public double FactorAt(DateTimeOffset now)
    {
        now = Observe(now);
        if (_factor >= 1 || _decreasedAt == DateTimeOffset.MinValue)
        {
            return 1;
        }

        var steps = Math.Floor((now - _decreasedAt) / _options.RecoveryInterval);
        return Math.Min(1, _factor + (steps * _options.RecoveryStep));
    }

    /// <summary>How long the credential is paused from <paramref name="now"/> (zero when not).</summary>
    public TimeSpan PausedFor(DateTimeOffset now)
    {
        now = Observe(now);
        return _pausedUntil > now ? _pausedUntil - now : TimeSpan.Zero;
    }

    /// <summary>
    /// When the limit next changes by itself after <paramref name="now"/>: the end of a pause, else the next recovery
    /// step; null when it is at the full limit and not paused.
    /// </summary>
    public DateTimeOffset? NextChangeAt(DateTimeOffset now)
    {
        now = Observe(now);
        if (_pausedUntil > now)
        {
            return _pausedUntil;
        }

        if (FactorAt(now) >= 1)
        {
            return null;
        }

        var steps = Math.Floor((now - _decreasedAt) / _options.RecoveryInterval) + 1;
        return _decreasedAt + (steps * _options.RecoveryInterval);
    }

    /// <summary>
    /// The upstream answered 429: shrink the limit (once per cooldown) and, with a Retry-After, pause until then
    /// (a later pause never shortens an earlier one). Answers whether the limit changed.
    /// </summary>
    public bool RateLimited(DateTimeOffset now, TimeSpan? retryAfter)
    {
        now = Observe(now);
        if (retryAfter is { } wait && wait > TimeSpan.Zero)
        {
            var until = wait >= DateTimeOffset.MaxValue - now ? DateTimeOffset.MaxValue : now + wait;
            _pausedUntil = until > _pausedUntil ? until : _pausedUntil;
        }

        if (_decreasedAt != DateTimeOffset.MinValue && now - _decreasedAt < _options.DecreaseCooldown)
        {
            return false;
        }

        var current = FactorAt(now);
        var next = Math.Max(_options.MinimumFactor, current * _options.DecreaseFactor);
        _factor = next;
        _decreasedAt = now;
        Decreases++;
        return next != current;
    }

    private DateTimeOffset Observe(DateTimeOffset now)
    {
        if (now > _latest)
        {
            _latest = now;
        }

        return _latest;
    }
}
