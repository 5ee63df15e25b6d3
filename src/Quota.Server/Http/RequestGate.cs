using System.Diagnostics.Metrics;
using Quota.Abstractions;
using Quota.Grains;
using Quota.Grains.Configuration;

namespace Quota.Server.Http;

/// <summary>
/// How many HTTP requests this silo works on at once, and whether it still takes new ones. A request enters at its
/// priority and leaves when answered; it is admitted while the requests already in flight are below its priority's
/// share of <see cref="LimitsOptions.MaxRequestsInFlight"/> (<see cref="Threshold"/>): low up to a half, normal up to
/// three quarters, high up to seven eighths, critical up to the ceiling. So as load rises low is shed first and critical
/// last, and the room above each share is kept for the priorities above it. Lock-free: one interlocked counter.
/// <para>
/// A count of requests in flight cannot see the requests that have arrived but wait in the thread pool's queue to reach
/// the gate, and on a saturated machine that queue is where the time goes. So the gate also reads the queue's delay
/// (<see cref="QueueDelay"/>) and sheds by priority once it passes <see cref="LimitsOptions.MaxQueueDelay"/>: low above
/// it, normal above twice it, high above four times it, critical above eight times it (<see cref="DelayThreshold"/>). A shed caller that honours <c>Retry-After</c> then takes its load off the queue, which
/// is what bounds the latency of the requests admitted.
/// </para>
/// </summary>
/// <remarks>
/// Waiting callers (<c>maxWaitMs</c>) count while they wait: each holds a connection, a request and a place in a
/// subject's queue, and a stop must answer each of them, so the ceiling bounds them as it bounds the rest. A silo whose
/// callers park many long waits needs a higher ceiling, not an exemption.
/// </remarks>
public sealed class RequestGate
{
    private readonly int _ceiling;
    private readonly Func<TimeSpan>? _queueDelay;
    private readonly TimeSpan _maxQueueDelay;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _inFlight;
    private int _isStopping;

    /// <summary>
    /// A gate admitting at most <paramref name="ceiling"/> requests at once; with <paramref name="meters"/> it reports
    /// them as the gauge <c>quota.requests.in_flight</c> on the <c>Quota</c> meter. With <paramref name="queueDelay"/>
    /// and a positive <paramref name="maxQueueDelay"/> it also sheds by the thread pool's queue delay.
    /// </summary>
    public RequestGate(int ceiling, IMeterFactory? meters = null, Func<TimeSpan>? queueDelay = null, TimeSpan maxQueueDelay = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ceiling, 1);
        _ceiling = ceiling;
        _queueDelay = maxQueueDelay > TimeSpan.Zero ? queueDelay : null;
        _maxQueueDelay = maxQueueDelay;
        Admission = new Leaving(this);
        CloseWhenStopping = state =>
        {
            // A response that starts after the stop began closes its connection: the client takes its next request to
            // another silo instead of sending it on a connection Kestrel is about to close.
            if (IsStopping)
            {
                ((Microsoft.AspNetCore.Http.HttpResponse)state).Headers.Connection = "close";
            }

            return Task.CompletedTask;
        };
        var meter = meters?.Create(QuotaInstruments.MeterName);
        meter?.CreateObservableGauge(
            "quota.requests.in_flight", () => InFlight, "{request}", "HTTP requests this silo is working on (Quota:Limits:MaxRequestsInFlight is the ceiling).");
        if (_queueDelay is not null)
        {
            meter?.CreateObservableGauge(
                "quota.queue.delay", () => _queueDelay().TotalSeconds, "s", "How long work waits in the silo's thread-pool queue (Quota:Limits:MaxQueueDelay sheds by it).");
        }
    }

    /// <summary>Why <see cref="TryEnter"/> refused.</summary>
    public enum Refusal
    {
        /// <summary>Admitted.</summary>
        None,

        /// <summary>The requests in flight reached the priority's share of the ceiling.</summary>
        InFlight,

        /// <summary>The silo is stopping (<see cref="BeginDrain"/>).</summary>
        Stopping,

        /// <summary>The thread pool's queue delay passed the priority's <see cref="DelayThreshold"/>.</summary>
        QueueDelay,
    }

    /// <summary>Calls <see cref="Exit"/> when disposed: registered once per admitted request, so one object serves them all.</summary>
    public IDisposable Admission { get; }

    /// <summary>
    /// For <c>HttpResponse.OnStarting</c> with the response as state: adds <c>Connection: close</c> when the silo has
    /// begun to stop. One delegate for every request.
    /// </summary>
    public Func<object, Task> CloseWhenStopping { get; }

    /// <summary>Requests admitted and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The ceiling (<see cref="LimitsOptions.MaxRequestsInFlight"/>).</summary>
    public int Ceiling => _ceiling;

    /// <summary>Whether the silo has begun to stop: nothing new is admitted.</summary>
    public bool IsStopping => Volatile.Read(ref _isStopping) != 0;

    /// <summary>Cancelled when the silo begins to stop: waits in flight end then, so their callers are answered.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// The most requests in flight at which a request of <paramref name="priority"/> is still admitted: a half of the
    /// ceiling for low, three quarters for normal, seven eighths for high, all of it for critical; at least 1.
    /// </summary>
    public static int Threshold(int ceiling, Priority priority)
    {
        // long: a ceiling near int.MaxValue times 7 must not overflow.
        var share = priority switch
        {
            Priority.Critical => (long)ceiling,
            Priority.High => (long)ceiling * 7 / 8,
            Priority.Normal => (long)ceiling * 3 / 4,
            _ => (long)ceiling / 2,
        };
        return (int)Math.Max(1, share);
    }

    /// <summary>
    /// The queue delay above which a request of <paramref name="priority"/> is shed: <paramref name="max"/> for low, twice
    /// it for normal, four times it for high, eight times it for critical: so the delay of a silo whose callers honour
    /// <c>Retry-After</c> stays bounded even when all of them are critical.
    /// </summary>
    public static TimeSpan DelayThreshold(TimeSpan max, Priority priority) => priority switch
    {
        Priority.Critical => max * 8,
        Priority.High => max * 4,
        Priority.Normal => max * 2,
        _ => max,
    };

    /// <summary>The thread pool's queue delay now (zero when the gate does not shed by it).</summary>
    public TimeSpan CurrentQueueDelay => _queueDelay?.Invoke() ?? TimeSpan.Zero;

    /// <summary>
    /// Admits a request of <paramref name="priority"/> unless the silo is stopping, the queue delay has passed its
    /// <see cref="DelayThreshold"/>, or the requests in flight have reached its <see cref="Threshold"/>. Every admitted
    /// request must call <see cref="Exit"/> exactly once.
    /// </summary>
    public Refusal TryEnter(Priority priority)
    {
        if (IsStopping)
        {
            return Refusal.Stopping;
        }

        if (_queueDelay is not null && _queueDelay() > DelayThreshold(_maxQueueDelay, priority))
        {
            return Refusal.QueueDelay;
        }

        // Take the place first, then check: two requests racing for the last place cannot both get it.
        if (Interlocked.Increment(ref _inFlight) > Threshold(_ceiling, priority))
        {
            Exit();
            return Refusal.InFlight;
        }

        if (IsStopping)
        {
            // The stop began between the check and the increment: it is draining, so leave.
            Exit();
            return Refusal.Stopping;
        }

        return Refusal.None;
    }

    /// <summary>An admitted request was answered.</summary>
    public void Exit()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && IsStopping)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>
    /// Stops admitting (every later <see cref="TryEnter"/> answers <see cref="Refusal.Stopping"/>), cancels
    /// <see cref="Stopping"/> so waits in flight end, and completes when the last request in flight is answered.
    /// </summary>
    public Task BeginDrain()
    {
        // Exchange is a full fence: the read of the counter below cannot move before the flag is set, so either this
        // read sees 0 or the last Exit sees the flag.
        if (Interlocked.Exchange(ref _isStopping, 1) == 0)
        {
            _stopping.Cancel();
        }

        if (Volatile.Read(ref _inFlight) == 0)
        {
            _drained.TrySetResult();
        }

        return _drained.Task;
    }

    private sealed class Leaving(RequestGate gate) : IDisposable
    {
        public void Dispose() => gate.Exit();
    }
}
