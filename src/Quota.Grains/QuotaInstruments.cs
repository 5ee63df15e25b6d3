using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;

namespace Quota.Grains;

/// <summary>
/// Quota's metrics, on the <c>Quota</c> meter. Tags are bounded: subject kind, outcome, algorithm, action; never a
/// user, key or resource name.
/// </summary>
public sealed class QuotaInstruments
{
    /// <summary>The meter's name, for exporters.</summary>
    public const string MeterName = "Quota";

    /// <summary>Tag: the kind of subject (user, key, resource, …).</summary>
    public const string KindTag = "kind";

    /// <summary>Tag: allowed, denied, cost_exceeds_limit, unknown_subject, invalid, overloaded.</summary>
    public const string OutcomeTag = "outcome";

    /// <summary>Tag: the algorithm of the policy that denied (none when allowed).</summary>
    public const string AlgorithmTag = "algorithm";

    /// <summary>Tag: the kind of admin change (set, reset, register, revoke).</summary>
    public const string ActionTag = "action";

    /// <summary>Tag: why a request was shed (<c>active_subjects</c>, <c>in_flight</c>, <c>stopping</c>).</summary>
    public const string ReasonTag = "reason";

    /// <summary>Tag: a request's priority (critical, high, normal, low).</summary>
    public const string PriorityTag = "priority";

    /// <summary>Tag of the <c>quota.rate_limiting.*</c> instruments: the policy's name (bounded, see <see cref="TelemetryOptions.MaxPolicyNames"/>).</summary>
    public const string PolicyTag = "quota.rate_limiting.policy";

    /// <summary>Tag of the <c>quota.rate_limiting.*</c> instruments: acquired or denied (as <c>aspnetcore.rate_limiting.result</c>).</summary>
    public const string ResultTag = "quota.rate_limiting.result";

    /// <summary>Tag of the <c>quota.rate_limiting.*</c> instruments: the kind of subject (user, key, tenant, token, resource).</summary>
    public const string SubjectKindTag = "quota.subject.kind";

    /// <summary>Tag of the <c>quota.token.*</c> instruments: the upstream (configured, so bounded).</summary>
    public const string UpstreamTag = "quota.upstream";

    /// <summary>Tag of the <c>quota.token.*</c> instruments: the token's id within its upstream (configured, never its secret).</summary>
    public const string TokenTag = "quota.token";

    /// <summary>Tag of the <c>quota.queue.*</c> instruments: the queue's name (admin-defined, bounded by <see cref="TelemetryOptions.MaxQueueNames"/>).</summary>
    public const string QueueTag = "quota.queue";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Upstream, string Token), (double Utilisation, bool Open)> _tokens = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, QueueStats> _queues = new(StringComparer.Ordinal);
    private readonly int _maxQueueNames;
    private readonly Counter<long> _circuitsOpened;

    // quota.decisions is counted here and observed when a reader collects: a counter with three tags costs an exporter a
    // tag-set lookup on every decision, which under load was as much CPU as the subject's own decision. One cell per
    // kind, outcome and denying algorithm (0: none, else the algorithm's value + 1); the enums' values run 0, 1, 2, ...
    private static readonly int KindCount = Enum.GetValues<SubjectKind>().Length;
    private static readonly int OutcomeCount = Enum.GetValues<DecisionOutcome>().Length;
    private static readonly int AlgorithmCells = Enum.GetValues<AlgorithmKind>().Length + 1;
    private readonly long[] _decisionCounts = new long[KindCount * OutcomeCount * AlgorithmCells];
    private readonly KeyValuePair<string, object?>[]?[] _decisionTags = new KeyValuePair<string, object?>[]?[KindCount * OutcomeCount * AlgorithmCells];
    private readonly long[] _peekCounts = new long[KindCount];
    private readonly KeyValuePair<string, object?>[]?[] _peekTags = new KeyValuePair<string, object?>[]?[KindCount];
    private readonly Histogram<double> _decisionDuration;
    private readonly Histogram<double> _timeInQueue;
    private readonly PolicyCounters _policies;
    private readonly UpDownCounter<long> _waiting;
    private long _waitingNow;
    private readonly UpDownCounter<long> _activeSubjects;
    private readonly Counter<long> _adminChanges;
    private readonly Counter<long> _usageRowsDropped;
    private readonly Counter<long> _checkpoints;
    private readonly Counter<long> _schedulerRuns;
    private readonly Counter<long> _schedulerChanges;
    private readonly Counter<long> _shed;
    private readonly Counter<long> _refused;

    /// <summary>
    /// Creates the instruments on a meter from <paramref name="meters"/>; <paramref name="telemetry"/> bounds the
    /// per-policy counts and sets their near-limit ratio (its defaults when null).
    /// </summary>
    public QuotaInstruments(IMeterFactory meters, IOptions<TelemetryOptions>? telemetry = null)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var options = telemetry?.Value ?? new TelemetryOptions();
        _policies = new PolicyCounters(options.MaxPolicyNames, options.NearLimitRatio);
        _maxQueueNames = options.MaxQueueNames;
        var meter = meters.Create(MeterName);

        // Named after ASP.NET Core's rate-limiting meter (aspnetcore.rate_limiting.requests, .queued_requests,
        // .request.time_in_queue) where they mean the same, so dashboards for one read the other.
        meter.CreateObservableCounter("quota.rate_limiting.requests", _policies.ObserveRequests, "{request}",
            "Subject decisions per policy (quota.rate_limiting.policy; names past Quota:Telemetry:MaxPolicyNames are 'other') and subject kind: acquired counts each policy of an allowed decision, denied the policy that denied.");
        meter.CreateObservableCounter("quota.rate_limiting.near_limit", _policies.ObserveNearLimit, "{request}",
            "Allowed decisions after which the policy's use was at least Quota:Telemetry:NearLimitRatio of its limit, per policy and subject kind.");
        meter.CreateObservableGauge("quota.token.utilization", () => ObserveTokens(t => t.Utilisation), "1",
            "Use of each active upstream token's most used rate policy against the upstream's own limit (1 = the whole limit), by upstream and token; refreshed every 5 s on the silo where the token is active.");
        meter.CreateObservableGauge("quota.token.circuit.open", () => ObserveTokens(t => t.Open ? 1 : 0), "1",
            "1 while an active upstream token's circuit breaker is open, else 0, by upstream and token.");

        // Queue gauges for autoscalers (KEDA's Prometheus scaler, an HPA external metric): one series per queue active on
        // this silo (and per priority for depth), at most Quota:Telemetry:MaxQueueNames queues.
        meter.CreateObservableGauge("quota.queue.desired_workers", () => ObserveQueues(q => q.DesiredWorkers), "{worker}",
            "Workers worth running for each queue: the smaller of what its limits can keep busy and its maxWorkers (0 when it is empty), by queue; refreshed every 5 s on the silo where the queue is active.");
        meter.CreateObservableGauge("quota.queue.depth", ObserveDepth, "{item}",
            "Items waiting for hand-out (not retrying, not in flight), by queue and priority.");
        meter.CreateObservableGauge("quota.queue.in_flight", () => ObserveQueues(q => q.InFlight), "{item}", "Items leased to workers and not yet acked or nacked, by queue.");
        meter.CreateObservableGauge("quota.queue.retrying", () => ObserveQueues(q => q.Retrying), "{item}", "Items waiting out a backoff before their next attempt, by queue.");
        meter.CreateObservableGauge("quota.queue.dead", () => ObserveQueues(q => q.Dead), "{item}", "Dead-lettered items, by queue.");
        _circuitsOpened = meter.CreateCounter<long>("quota.token.circuit.opened", "{opening}", "Times an upstream token's circuit breaker opened, by upstream and token.");
        _timeInQueue = meter.CreateHistogram<double>("quota.rate_limiting.request.time_in_queue", "s", "Time callers waited in subjects' queues (maxWaitMs) before being answered, by subject kind and result.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60] });
        meter.CreateObservableCounter("quota.decisions", ObserveDecisions, "{decision}", "Decisions made by subjects, by kind, outcome and denying algorithm; peeks (cost 0) are not decisions and are counted in quota.peeks.");
        meter.CreateObservableCounter("quota.peeks", ObservePeeks, "{peek}", "Peeks (cost 0: nothing taken) answered by subjects, by kind: client peeks and the queues' own reading of their dispatch limits.");
        _decisionDuration = meter.CreateHistogram<double>("quota.decision.duration", "s", "Time a subject takes to decide, waiting excluded.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.000_001, 0.000_002, 0.000_005, 0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.01] });
        _waiting = meter.CreateUpDownCounter<long>("quota.rate_limiting.queued_requests", "{request}", "Callers waiting in subjects' queues for capacity.");
        _activeSubjects = meter.CreateUpDownCounter<long>("quota.subjects.active", "{subject}", "Subject grains active in memory, by kind.");
        _usageRowsDropped = meter.CreateCounter<long>("quota.storage.usage_rows_dropped", "{row}", "Usage-history rows dropped because the write buffer was full while the database failed.");
        _checkpoints = meter.CreateCounter<long>("quota.storage.checkpoints", "{write}", "Counter checkpoint writes, by outcome (written, failed).");
        _adminChanges = meter.CreateCounter<long>("quota.admin.changes", "{change}", "Configuration changes made through the admin API or apply, by action.");
        _schedulerRuns = meter.CreateCounter<long>("quota.scheduler.runs", "{run}", "Scheduler runs, by outcome (ok, failed).");
        _shed = meter.CreateCounter<long>("quota.shed", "{request}", "Requests refused with 503 before being decided because the silo was at a ceiling (Quota:Limits) or stopping, by reason and priority.");
        _refused = meter.CreateCounter<long>("quota.security.refused", "{request}", "Requests refused by the HTTP guards, by reason (foreign-origin, media-type, wrong-token, throttled).");
        _schedulerChanges = meter.CreateCounter<long>("quota.scheduler.changes", "{change}", "Changes the scheduler made, by action (reserve, rotate, drain, retire, remove).");
    }

    /// <summary>Counts one subject decision (<paramref name="algorithm"/>: the denying policy's, null when none) and how long it took.</summary>
    public void Decided(SubjectKind kind, DecisionOutcome outcome, AlgorithmKind? algorithm, TimeSpan duration)
    {
        var o = (uint)outcome < (uint)OutcomeCount ? (int)outcome : (int)DecisionOutcome.Invalid;
        var a = algorithm is { } denying ? (int)denying + 1 : 0;
        if ((uint)kind < (uint)KindCount && (uint)a < (uint)AlgorithmCells)
        {
            Interlocked.Increment(ref _decisionCounts[((((int)kind * OutcomeCount) + o) * AlgorithmCells) + a]);
        }

        _decisionDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(KindTag, SubjectNames.Prefix(kind)));
    }

    /// <summary>
    /// Counts a decision per policy (<c>quota.rate_limiting.requests</c>, <c>quota.rate_limiting.near_limit</c>):
    /// allowed, each policy of <paramref name="policies"/>; denied, <paramref name="denyingPolicy"/> when a policy denied.
    /// </summary>
    public void DecidedByPolicy(SubjectKind kind, bool allowed, string? denyingPolicy, PolicyReading[] policies)
    {
        if (allowed)
        {
            _policies.Allowed(kind, policies);
        }
        else if (denyingPolicy is not null)
        {
            _policies.Denied(kind, denyingPolicy);
        }
    }

    /// <summary>An upstream token reports its utilisation and whether its circuit is open (the gauges show the last report).</summary>
    public void TokenObserved(string upstream, string token, double utilisation, bool circuitOpen) => _tokens[(upstream, token)] = (utilisation, circuitOpen);

    /// <summary>An upstream token was deactivated here: its gauges go with it (the silo that activates it next reports it).</summary>
    public void TokenGone(string upstream, string token) => _tokens.TryRemove((upstream, token), out _);

    /// <summary>Counts an upstream token's circuit opening.</summary>
    public void CircuitOpened(string upstream, string token) => _circuitsOpened.Add(1, new(UpstreamTag, upstream), new(TokenTag, token));

    /// <summary>
    /// A queue reports its statistics (the queue gauges show the last report). Beyond
    /// <see cref="TelemetryOptions.MaxQueueNames"/> queues a new name is not taken, so a cluster with many queues cannot
    /// flood the metrics; answers whether the queue is exported.
    /// </summary>
    public bool QueueObserved(string queue, QueueStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        if (_queues.ContainsKey(queue) || _queues.Count < _maxQueueNames)
        {
            _queues[queue] = stats;
            return true;
        }

        return false;
    }

    /// <summary>A queue was deactivated here or removed: its gauges go with it (the silo that activates it next reports it).</summary>
    public void QueueGone(string queue) => _queues.TryRemove(queue, out _);

    private IEnumerable<Measurement<int>> ObserveQueues(Func<QueueStats, int> value) =>
        _queues.Select(q => new Measurement<int>(value(q.Value), new KeyValuePair<string, object?>(QueueTag, q.Key)));

    private IEnumerable<Measurement<int>> ObserveDepth() =>
        _queues.SelectMany(q => q.Value.Depth.Select(d => new Measurement<int>(d.Value, new KeyValuePair<string, object?>(QueueTag, q.Key), new KeyValuePair<string, object?>(PriorityTag, d.Key))));

    private IEnumerable<Measurement<double>> ObserveTokens(Func<(double Utilisation, bool Open), double> value) =>
        _tokens.Select(t => new Measurement<double>(value(t.Value), new KeyValuePair<string, object?>(UpstreamTag, t.Key.Upstream), new KeyValuePair<string, object?>(TokenTag, t.Key.Token)));

    /// <summary>Records how long a caller waited in a subject's queue before being answered.</summary>
    public void Waited(SubjectKind kind, bool allowed, TimeSpan waited) => _timeInQueue.Record(
        Math.Max(0, waited.TotalSeconds),
        new KeyValuePair<string, object?>(SubjectKindTag, SubjectNames.Prefix(kind)),
        new KeyValuePair<string, object?>(ResultTag, allowed ? "acquired" : "denied"));

    /// <summary>
    /// Counts one peek (cost 0). A peek takes nothing, so it is kept out of the decisions, the per-policy counts, the usage
    /// history and the recent denials: a queue reading its limits every few seconds must not show as traffic.
    /// </summary>
    public void Peeked(SubjectKind kind)
    {
        if ((uint)kind < (uint)KindCount)
        {
            Interlocked.Increment(ref _peekCounts[(int)kind]);
        }
    }

    private IEnumerable<Measurement<long>> ObservePeeks()
    {
        for (var kind = 0; kind < _peekCounts.Length; kind++)
        {
            var count = Interlocked.Read(ref _peekCounts[kind]);
            if (count > 0)
            {
                yield return new Measurement<long>(count, _peekTags[kind] ??= [new(KindTag, SubjectNames.Prefix((SubjectKind)kind))]);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveDecisions()
    {
        for (var cell = 0; cell < _decisionCounts.Length; cell++)
        {
            var count = Interlocked.Read(ref _decisionCounts[cell]);
            if (count > 0)
            {
                yield return new Measurement<long>(count, _decisionTags[cell] ??= DecisionTags(cell));
            }
        }
    }

    private static KeyValuePair<string, object?>[] DecisionTags(int cell)
    {
        var a = cell % AlgorithmCells;
        var o = cell / AlgorithmCells % OutcomeCount;
        var k = cell / AlgorithmCells / OutcomeCount;
        return
        [
            new(KindTag, SubjectNames.Prefix((SubjectKind)k)),
            new(OutcomeTag, QuotaActivities.Outcome((DecisionOutcome)o)),
            new(AlgorithmTag, a == 0 ? "none" : PolicySpec.AlgorithmName((AlgorithmKind)(a - 1))),
        ];
    }

    /// <summary>A caller started (+1) or stopped (-1) waiting.</summary>
    public void Waiting(int delta)
    {
        Interlocked.Add(ref _waitingNow, delta);
        _waiting.Add(delta);
    }

    /// <summary>Callers waiting in this silo's subjects' queues now (as <c>quota.rate_limiting.queued_requests</c>).</summary>
    public long WaitingNow => Interlocked.Read(ref _waitingNow);

    /// <summary>Subject decisions made on this silo since it started: allowed, and denied by a policy or a ceiling (as <c>quota.decisions</c>).</summary>
    public (long Allowed, long Denied) DecisionTotals()
    {
        long allowed = 0, denied = 0;
        for (var cell = 0; cell < _decisionCounts.Length; cell++)
        {
            var outcome = (DecisionOutcome)(cell / AlgorithmCells % OutcomeCount);
            var count = Interlocked.Read(ref _decisionCounts[cell]);
            if (outcome == DecisionOutcome.Allowed)
            {
                allowed += count;
            }
            else if (outcome is DecisionOutcome.Denied or DecisionOutcome.CostExceedsLimit)
            {
                denied += count;
            }
        }

        return (allowed, denied);
    }

    /// <summary>A subject grain was activated (+1) or deactivated (-1).</summary>
    public void SubjectActive(SubjectKind kind, int delta) => _activeSubjects.Add(delta, new KeyValuePair<string, object?>(KindTag, SubjectNames.Prefix(kind)));

    /// <summary>Counts usage-history rows dropped because the write buffer was full while the database failed.</summary>
    public void UsageRowsDropped(int rows) => _usageRowsDropped.Add(rows);

    /// <summary>Counts a counter checkpoint written (<paramref name="ok"/>) or failed.</summary>
    public void CheckpointWritten(bool ok) => _checkpoints.Add(1, new KeyValuePair<string, object?>(OutcomeTag, ok ? "written" : "failed"));

    /// <summary>Counts an admin change.</summary>
    public void AdminChanged(string action) => _adminChanges.Add(1, new KeyValuePair<string, object?>(ActionTag, action));

    /// <summary>Counts a scheduler run that completed (<paramref name="ok"/>) or failed.</summary>
    public void SchedulerRan(bool ok) => _schedulerRuns.Add(1, new KeyValuePair<string, object?>(OutcomeTag, ok ? "ok" : "failed"));

    /// <summary>Counts a change the scheduler made, by its kind.</summary>
    public void SchedulerChanged(string kind) => _schedulerChanges.Add(1, new KeyValuePair<string, object?>(ActionTag, kind));

    /// <summary>
    /// Counts a request refused by an HTTP guard: <c>foreign-origin</c> (403, another site's <c>Origin</c>),
    /// <c>media-type</c> (415), <c>wrong-token</c> (403, a wrong admin token), <c>throttled</c> (429, a locked-out source).
    /// </summary>
    public void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason));

    /// <summary>Counts a request shed before it was decided (<see cref="ReasonTag"/> values), at its priority.</summary>
    public void Shed(string reason, Priority priority) => _shed.Add(
        1,
        new KeyValuePair<string, object?>(ReasonTag, reason),
        new KeyValuePair<string, object?>(PriorityTag, PriorityName(priority)));

    /// <summary>A priority as the API writes it (critical, high, normal, low): the <see cref="PriorityTag"/> values.</summary>
    public static string PriorityName(Priority priority) => priority switch
    {
        Priority.Critical => "critical",
        Priority.High => "high",
        Priority.Low => "low",
        _ => "normal",
    };
}
