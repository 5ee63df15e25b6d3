using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Health;
using Quota.Algorithms.Limiting;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;
using Quota.Grains.Tenancy;

namespace Quota.Grains.Upstreams;

/// <summary>
/// An upstream credential, keyed <c>{upstream}/{tokenId}</c>: a subject whose policies are the upstream's limits for
/// the token less the upstream's buffer, enforced as a hard ceiling whatever tenants were granted, with a circuit
/// breaker fed by <see cref="ReportAsync"/>. Its configuration comes from the tenancy grain.
/// </summary>
/// <remarks>
/// The breaker lives in memory: a token activated afresh (after idle collection or a restart) starts closed. A
/// half-open circuit's probe slot is taken by the first request with a cost that the token is asked for; if that
/// request is then refunded (another subject denied it) the slot frees only when the probe times out (the open
/// duration) or a report arrives. The secret is opened once, when first asked for, and kept in memory for later
/// grants; it is never logged.
/// </remarks>
[GrainType("token")]
public sealed partial class UpstreamTokenGrain : SubjectGrain, IUpstreamTokenGrain, ITokenClusterGrain, IPolicySource, ISubjectGate
{
    private readonly SecretProtector _secrets;
    private readonly QuotaInstruments _instruments;
    private readonly TenancyOptions _options;
    private readonly ILogger _logger;
    private readonly CircuitBreaker _breaker;
    private readonly AdaptiveLimit _adaptive;
    private double _appliedFactor = 1;
    private bool _poolCountsShrunk;
    private ITimer? _limitTimer;
    private ITokenClusterGrain? _self;
    private TokenSetup? _setup;
    private IReadOnlyList<PolicyDefinition>? _definitions;
    private string? _secret;

    /// <summary>Creates the token: its policies are its upstream's limits; its circuit, pause and secret are its gate.</summary>
    public UpstreamTokenGrain(SubjectServices services, SecretProtector secrets, IOptions<TenancyOptions> options, ILogger<UpstreamTokenGrain> logger)
        : base(services, logger, SubjectKind.Token, SubjectExistence.FromSource)
    {
        ArgumentNullException.ThrowIfNull(options);
        _secrets = secrets;
        _instruments = services.Instruments;
        _options = options.Value;
        _logger = logger;
        _breaker = new(_options.Breaker);
        _adaptive = new(_options.Feedback);
        Subject.Supply(policies: this, gate: this);
    }

    private string Id => this.GetPrimaryKeyString();

    private TimeProvider Time => Subject.Time;

    private (string Upstream, string Token) Name => TokenKeys.Parse(Id);

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (upstream, token) = Name;
        Take(await GrainFactory.GetGrain<ITenancyGrain>(0).GetTokenSetupAsync(upstream, token));
        await base.OnActivateAsync(cancellationToken);
        _self = this.AsReference<ITokenClusterGrain>();
        _limitTimer = Time.CreateTimer(static grain => ((UpstreamTokenGrain)grain!)._self?.LimitTickAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        // The token gauges (quota.token.utilization, quota.token.circuit.open) read what the token last reported: a
        // metrics reader must not touch the grain's state from outside its scheduler. Not a reason to stay active.
        this.RegisterGrainTimer(static (grain, _) => { grain.PublishGauges(); return Task.CompletedTask; }, this, new GrainTimerCreationOptions(TimeSpan.Zero, GaugeInterval) { KeepAlive = false });
    }

    /// <summary>How often an active token refreshes its gauges (and when it answers a status or feedback).</summary>
    internal static readonly TimeSpan GaugeInterval = TimeSpan.FromSeconds(5);

    private void PublishGauges()
    {
        if (_setup is not null)
        {
            var (upstream, token) = Name;
            _instruments.TokenObserved(upstream, token, Utilisation(out _, out _), _breaker.Snapshot(Time.GetUtcNow()).State == CircuitState.Open);
        }
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _limitTimer?.Dispose();
        _limitTimer = null;
        var (upstream, token) = Name;
        _instruments.TokenGone(upstream, token);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <inheritdoc />
    public async Task LimitTickAsync()
    {
        var now = Time.GetUtcNow();
        ApplyFactor(now);
        await TellPoolAsync(now);
    }

    /// <inheritdoc />
    public async Task ConfigureAsync(TokenSetup? setup)
    {
        Take(setup);
        Subject.Reconfigure();

        // Moved into the pool (or its limits changed) while shrunk: the pool hears what it admits now.
        await TellPoolAsync(Time.GetUtcNow());
    }

    /// <inheritdoc />
    public async Task<TokenHealth?> ReportAsync(UpstreamFeedback feedback)
    {
        ArgumentNullException.ThrowIfNull(feedback);
        if (_setup is null)
        {
            // Feedback naming a token nobody configured leaves nothing behind.
            Subject.LetGoIfUntouched();
            return null;
        }

        var now = Time.GetUtcNow();
        if (feedback.Status == 0 || feedback.Status >= 500)
        {
            var opened = _breaker.Snapshot(now).TimesOpened;
            _breaker.RecordFailure(now);
            if (_breaker.Snapshot(now).TimesOpened > opened)
            {
                var (upstream, token) = Name;
                _instruments.CircuitOpened(upstream, token);
            }
        }
        else if (feedback.Status == 429)
        {
            // Rate limited: not a failure of the credential, but its limit is less than configured for now. Clamped:
            // a caller of the grain may send any long, and TimeSpan.FromMilliseconds(long.MaxValue) throws.
            _adaptive.RateLimited(now, feedback.RetryAfterMs is { } ms ? TimeSpan.FromMilliseconds(Math.Clamp(ms, 0, UpstreamFeedback.MaxRetryAfterMs)) : null);
            ApplyFactor(now);
            await TellPoolAsync(now);
        }
        else
        {
            _breaker.RecordSuccess(now);
        }

        PublishGauges();
        return Health(now);
    }

    /// <inheritdoc />
    public Task<TokenAllocation?> GetStatusAsync()
    {
        if (_setup is null)
        {
            return Task.FromResult<TokenAllocation?>(null);
        }

        var utilisation = Utilisation(out var used, out var inFlight);
        PublishGauges();
        return Task.FromResult<TokenAllocation?>(new TokenAllocation
        {
            Id = _setup.Token.Id,
            DedicatedTo = _setup.Token.DedicatedTo,
            Limit = _setup.Token.Limit,
            Usable = _setup.Token.Usable,
            Used = used,
            Utilisation = utilisation,
            Health = Health(Time.GetUtcNow()),
            InFlight = inFlight,
        });
    }

    /// <summary>
    /// The most used rate policy's use, measured against the upstream's own limit for it (not the buffered one), with
    /// what it used and the requests in flight (concurrency policies, reported apart).
    /// </summary>
    private double Utilisation(out long used, out long inFlight)
    {
        var readings = Subject.CurrentReadings();
        used = 0;
        inFlight = 0;
        var utilisation = 0.0;
        foreach (var reading in readings)
        {
            if ((AlgorithmKind)reading.Algorithm == AlgorithmKind.Concurrency)
            {
                // Requests in flight, not use of the upstream's rate: reported apart.
                inFlight += reading.Limit - reading.Remaining;
                continue;
            }

            var configured = _setup!.Token.Policies.FirstOrDefault(p => p.Name == reading.Policy)?.Limit ?? reading.Limit;
            var taken = reading.Limit - reading.Remaining;
            if (configured > 0 && (double)taken / configured >= utilisation)
            {
                utilisation = (double)taken / configured;
                used = taken;
            }
        }

        return utilisation;
    }

    /// <inheritdoc />
    bool IPolicySource.IsConfigured => _setup is not null;

    /// <inheritdoc />
    IReadOnlyList<PolicyDefinition>? IPolicySource.CurrentPolicies() => _definitions;

    /// <inheritdoc />
    void ISubjectGate.Arrived(SubjectAcquire request) => ApplyFactor(Time.GetUtcNow());

    /// <inheritdoc />
    (DenialCause Cause, TimeSpan RetryAfter)? ISubjectGate.Deny(SubjectAcquire request, DateTimeOffset now)
    {
        if (request.Cost > 0 && _adaptive.PausedFor(now) is { } paused && paused > TimeSpan.Zero)
        {
            return (DenialCause.Paused, paused);
        }

        if (request.IncludeSecret && _setup?.SecretEnvelope is { } envelope && _secret is null)
        {
            try
            {
                var (upstream, token) = Name;
                _secret = _secrets.Unprotect(envelope, TenancyModel.SecretPurpose(upstream, token));
            }
            catch (SecretUnavailableException)
            {
                // Not a "not now": the stored secret does not open under the configured master keys.
                return (DenialCause.Secret, Decision.Never);
            }
        }

        // A peek (cost 0) reaches no upstream: it must not take a half-open circuit's one probe.
        if (request.Cost == 0)
        {
            var snapshot = _breaker.Snapshot(now);
            return snapshot.State == CircuitState.Open && snapshot.HalfOpenAt is { } at ? (DenialCause.Circuit, at - now) : null;
        }

        return _breaker.TryPass(now, out var retryAfter) ? null : (DenialCause.Circuit, retryAfter);
    }

    /// <inheritdoc />
    SubjectDecision ISubjectGate.Granted(SubjectAcquire request, SubjectDecision decision) =>
        request.IncludeSecret && _secret is not null ? decision with { Secret = _secret } : decision;

    private void Take(TokenSetup? setup)
    {
        if (setup?.SecretEnvelope != _setup?.SecretEnvelope)
        {
            _secret = null;
        }

        _setup = setup;

        // A removed token keeps its windows (it is unknown, so it admits nothing): added back within the window, it
        // still counts what it admitted, and the upstream's limit stays in force across the change.
        _definitions = setup is null ? _definitions : Scaled(setup.Enforced, _appliedFactor);
    }

    /// <summary>Applies the 429 feedback's current factor to the enforced policies when it changed (keeping usage).</summary>
    private void ApplyFactor(DateTimeOffset now)
    {
        var factor = _adaptive.FactorAt(now);
        if (factor == _appliedFactor)
        {
            return;
        }

        _appliedFactor = factor;
        if (_setup is not null)
        {
            _definitions = Scaled(_setup.Enforced, factor);
            Subject.Reconfigure();
        }
    }

    /// <summary>
    /// Tells the pool what this token admits per window now while a 429 shrunk it or a Retry-After paused it (nothing
    /// while paused), and once more, null, when it is back to its full limit. It tells again at every recovery step and
    /// at least every recovery interval (its timer), each telling valid for two intervals: a pool that restarted learns
    /// it within an interval, and if this grain is gone (its 429 state with it) the pool counts it in full again. A
    /// dedicated token is not the pool's.
    /// </summary>
    private async Task TellPoolAsync(DateTimeOffset now)
    {
        if (_setup is null)
        {
            return;
        }

        var paused = _adaptive.PausedFor(now) > TimeSpan.Zero;
        long? usable = paused ? 0 : _appliedFactor < 1 ? (long)Math.Floor(_setup.Token.Usable * _appliedFactor) : null;
        var interval = _options.RecoveryInterval;
        if (_adaptive.NextChangeAt(now) is { } next)
        {
            var due = next - now;
            _limitTimer?.Change(due <= TimeSpan.Zero ? TimeSpan.Zero : due < interval ? due : interval, Timeout.InfiniteTimeSpan);
        }

        var pooled = _setup.Token.DedicatedTo is null && _setup.Token.RetiringSince is null;
        if (!pooled || (usable is null && !_poolCountsShrunk))
        {
            return;
        }

        try
        {
            await GrainFactory.GetGrain<IPoolClusterGrain>(Name.Upstream).TokenLimitAsync(Name.Token, usable, (long)(2 * interval).TotalMilliseconds);
            _poolCountsShrunk = usable is not null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Its own ceiling stays in force regardless; the pool hears at the next tick.
            _poolCountsShrunk = true;
            LogPoolNotTold(_logger, Name.Upstream, e.GetType().Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A token of upstream {Upstream} could not tell its pool its shrunk limit ({ErrorType}); its own ceiling stays in force.")]
    private static partial void LogPoolNotTold(ILogger logger, string upstream, string errorType);

    /// <summary>Rate policies at <paramref name="factor"/> of their limit (and burst), at least 1; concurrency as configured.</summary>
    private static IReadOnlyList<PolicyDefinition>? Scaled(PolicySpec[] enforced, double factor) =>
        PolicySpec.ToDefinitions([.. enforced.Select(p => factor >= 1 || (PolicySpec.Algorithms.TryGetValue(p.Algorithm ?? string.Empty, out var kind) && kind == AlgorithmKind.Concurrency)
            ? p
            : p with
            {
                Limit = Math.Max(1, (long)Math.Floor(p.Limit * factor)),
                Burst = p.Burst is { } burst ? Math.Max(1, (long)Math.Floor(burst * factor)) : null,
            })], "policies", out _);

    private TokenHealth Health(DateTimeOffset now)
    {
        var snapshot = _breaker.Snapshot(now);
        var retry = snapshot.State == CircuitState.Open && snapshot.HalfOpenAt is { } at ? at - now : TimeSpan.Zero;
        return new TokenHealth
        {
            Circuit = snapshot.State switch { CircuitState.Open => "open", CircuitState.HalfOpen => "half-open", _ => "closed" },
            ConsecutiveFailures = snapshot.ConsecutiveFailures,
            RetryAfterMs = DecisionResults.CeilingMilliseconds(retry),
            TimesOpened = snapshot.TimesOpened,
            LimitFactor = _adaptive.FactorAt(now),
            PausedForMs = DecisionResults.CeilingMilliseconds(_adaptive.PausedFor(now)),
        };
    }
}
