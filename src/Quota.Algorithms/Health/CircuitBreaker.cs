using System.Globalization;

namespace Quota.Algorithms.Health;

/// <summary>The thresholds and durations of a <see cref="CircuitBreaker"/>. Check with <see cref="Validate"/>.</summary>
public sealed record CircuitBreakerOptions
{
    /// <summary>Consecutive failures that open a closed circuit; at least 1. Default: 5.</summary>
    public int FailureThreshold { get; init; } = 5;

    /// <summary>How long an opened circuit rejects everything before it turns half-open; positive. Default: 30 seconds.</summary>
    public TimeSpan OpenDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Consecutive probe successes that close a half-open circuit; at least 1. Default: 2.</summary>
    public int SuccessesToClose { get; init; } = 2;

    /// <summary>
    /// How long a probe whose outcome is never reported holds the half-open circuit's single probe slot; positive.
    /// Default: 30 seconds.
    /// </summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Every problem with these options, one message per bad member, each naming it; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (FailureThreshold < 1)
        {
            errors.Add($"{nameof(FailureThreshold)} must be at least 1 (got {FailureThreshold.ToString(CultureInfo.InvariantCulture)}).");
        }

        if (OpenDuration <= TimeSpan.Zero)
        {
            errors.Add($"{nameof(OpenDuration)} must be positive (got {OpenDuration.ToString("c", CultureInfo.InvariantCulture)}).");
        }

        if (SuccessesToClose < 1)
        {
            errors.Add($"{nameof(SuccessesToClose)} must be at least 1 (got {SuccessesToClose.ToString(CultureInfo.InvariantCulture)}).");
        }

        if (ProbeTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{nameof(ProbeTimeout)} must be positive (got {ProbeTimeout.ToString("c", CultureInfo.InvariantCulture)}).");
        }

        return errors;
    }
}

/// <summary>Where a <see cref="CircuitBreaker"/> stands at a given time.</summary>
public enum CircuitState
{
    /// <summary>Calls pass; consecutive failures are counted.</summary>
    Closed = 0,

    /// <summary>Calls are rejected until the open duration has passed.</summary>
    Open = 1,

    /// <summary>One probe call at a time passes; its outcome closes or reopens the circuit.</summary>
    HalfOpen = 2,
}

/// <summary>A circuit breaker's state as of one time.</summary>
/// <param name="State">The state at that time.</param>
/// <param name="ConsecutiveFailures">Failures in a row while closed; 0 once the circuit opens.</param>
/// <param name="ProbeSuccesses">Successful probes in a row while half-open; 0 otherwise.</param>
/// <param name="OpenedAt">When the circuit last opened (or reopened), in UTC; null while closed.</param>
/// <param name="HalfOpenAt">
/// When the circuit turns (or turned) half-open, <see cref="OpenedAt"/> plus the open duration, in UTC and clamped
/// to <see cref="DateTimeOffset.MaxValue"/>; null while closed.
/// </param>
/// <param name="TimesOpened">How often the circuit has opened or reopened since it was created.</param>
public readonly record struct CircuitSnapshot(
    CircuitState State,
    int ConsecutiveFailures,
    int ProbeSuccesses,
    DateTimeOffset? OpenedAt,
    DateTimeOffset? HalfOpenAt,
    long TimesOpened);

/// <summary>
/// A closed / open / half-open circuit breaker. Pure and deterministic: it never reads a clock and starts no
/// timers; every call passes the current time and an open circuit turns half-open lazily, when a call sees a time
/// at or after it opened plus <see cref="CircuitBreakerOptions.OpenDuration"/>.
/// </summary>
/// <remarks>
/// <para>
/// Closed: every call passes; <see cref="CircuitBreakerOptions.FailureThreshold"/> failures in a row open the
/// circuit, a success resets the count. Open: every call is rejected with the exact time left until it turns
/// half-open; outcomes reported while open belong to calls made before it opened and change nothing.
/// Half-open: one probe at a time passes. A probe whose outcome is never reported frees the slot after
/// <see cref="CircuitBreakerOptions.ProbeTimeout"/>. A success counts towards
/// <see cref="CircuitBreakerOptions.SuccessesToClose"/> and frees the slot; a failure reopens the circuit.
/// Outcomes carry no identity, so while half-open any reported outcome is taken as the probe's.
/// </para>
/// <para>
/// Time: the breaker keeps the latest time it has seen and treats an earlier <c>now</c> as that latest time, so a
/// clock that goes backwards never throws, never shortens a wait and never reopens a slot.
/// </para>
/// <para>
/// Not thread-safe: a breaker belongs to exactly one owner (a grain) that serialises calls.
/// </para>
/// </remarks>
public sealed class CircuitBreaker
{
    private static readonly long MaxTicks = DateTimeOffset.MaxValue.UtcTicks;

    private readonly long _openDuration;
    private readonly long _probeTimeout;
    private readonly int _failureThreshold;
    private readonly int _successesToClose;

    private long _clock;            // latest UTC ticks seen
    private bool _tripped;          // open or half-open; which one depends on the time
    private long _openedAt;         // UTC ticks; meaningful while tripped
    private long? _probeStartedAt;  // UTC ticks of the probe in flight, if any
    private int _consecutiveFailures;
    private int _probeSuccesses;
    private long _timesOpened;

    /// <summary>Creates a closed circuit breaker.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    public CircuitBreaker(CircuitBreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Circuit breaker options are invalid: {string.Join(" ", errors)}", nameof(options));
        }

        _openDuration = options.OpenDuration.Ticks;
        _probeTimeout = options.ProbeTimeout.Ticks;
        _failureThreshold = options.FailureThreshold;
        _successesToClose = options.SuccessesToClose;
    }

    /// <summary>The state at <paramref name="now"/> (clamped to the latest time seen).</summary>
    public CircuitState StateAt(DateTimeOffset now) => State(Advance(now));

    /// <summary>
    /// Whether a call may go ahead at <paramref name="now"/>. While half-open, a <c>true</c> answer takes the single
    /// probe slot; report the call's outcome with <see cref="RecordSuccess"/> or <see cref="RecordFailure"/>.
    /// </summary>
    /// <param name="now">The current time; an earlier time than one already seen counts as that time.</param>
    /// <param name="retryAfter">
    /// Zero when the call may go ahead; otherwise the exact time until a call could pass if nothing else happened:
    /// until the circuit turns half-open, or until the probe in flight times out.
    /// </param>
    /// <returns>Whether the call may go ahead.</returns>
    public bool TryPass(DateTimeOffset now, out TimeSpan retryAfter)
    {
        var t = Advance(now);
        switch (State(t))
        {
            case CircuitState.Closed:
                retryAfter = TimeSpan.Zero;
                return true;
            case CircuitState.Open:
                // Subtract elapsed from the duration instead of adding the duration to openedAt: cannot overflow.
                retryAfter = TimeSpan.FromTicks(_openDuration - (t - _openedAt));
                return false;
            default:
                if (_probeStartedAt is { } started && t - started < _probeTimeout)
                {
                    retryAfter = TimeSpan.FromTicks(_probeTimeout - (t - started));
                    return false;
                }

                _probeStartedAt = t;
                retryAfter = TimeSpan.Zero;
                return true;
        }
    }

    /// <summary>
    /// Reports a successful call. Closed: resets the failure count. Open: ignored. Half-open: frees the probe slot
    /// and counts a probe success; the last one needed closes the circuit.
    /// </summary>
    /// <param name="now">The current time; an earlier time than one already seen counts as that time.</param>
    public void RecordSuccess(DateTimeOffset now)
    {
        var t = Advance(now);
        switch (State(t))
        {
            case CircuitState.Closed:
                _consecutiveFailures = 0;
                break;
            case CircuitState.HalfOpen:
                _probeStartedAt = null;
                _probeSuccesses++;
                if (_probeSuccesses >= _successesToClose)
                {
                    Close();
                }

                break;
        }
    }

    /// <summary>
    /// Reports a failed call. Closed: counts it; the threshold-th failure in a row opens the circuit at
    /// <paramref name="now"/>. Open: ignored. Half-open: reopens the circuit at <paramref name="now"/>.
    /// </summary>
    /// <param name="now">The current time; an earlier time than one already seen counts as that time.</param>
    public void RecordFailure(DateTimeOffset now)
    {
        var t = Advance(now);
        switch (State(t))
        {
            case CircuitState.Closed:
                _consecutiveFailures++;
                if (_consecutiveFailures >= _failureThreshold)
                {
                    Open(t);
                }

                break;
            case CircuitState.HalfOpen:
                Open(t);
                break;
        }
    }

    /// <summary>The state and counters at <paramref name="now"/> (clamped to the latest time seen).</summary>
    public CircuitSnapshot Snapshot(DateTimeOffset now)
    {
        var t = Advance(now);
        var state = State(t);
        DateTimeOffset? openedAt = null;
        DateTimeOffset? halfOpenAt = null;
        if (_tripped)
        {
            openedAt = new DateTimeOffset(_openedAt, TimeSpan.Zero);
            var until = MaxTicks - _openedAt < _openDuration ? MaxTicks : _openedAt + _openDuration;
            halfOpenAt = new DateTimeOffset(until, TimeSpan.Zero);
        }

        return new CircuitSnapshot(state, _consecutiveFailures, _probeSuccesses, openedAt, halfOpenAt, _timesOpened);
    }

    /// <summary>
    /// Closes the circuit and zeroes its counters, freeing any probe slot. <see cref="CircuitSnapshot.TimesOpened"/>
    /// and the latest time seen are kept.
    /// </summary>
    public void Reset() => Close();

    private long Advance(DateTimeOffset now)
    {
        var t = now.UtcTicks;
        if (t > _clock)
        {
            _clock = t;
        }

        return _clock;
    }

    private CircuitState State(long t)
    {
        if (!_tripped)
        {
            return CircuitState.Closed;
        }

        // Elapsed against the duration, not openedAt + duration against t: the sum can pass DateTimeOffset.MaxValue.
        return t - _openedAt >= _openDuration ? CircuitState.HalfOpen : CircuitState.Open;
    }

    private void Open(long t)
    {
        _tripped = true;
        _openedAt = t;
        _probeStartedAt = null;
        _consecutiveFailures = 0;
        _probeSuccesses = 0;
        _timesOpened++;
    }

    private void Close()
    {
        _tripped = false;
        _openedAt = 0;
        _probeStartedAt = null;
        _consecutiveFailures = 0;
        _probeSuccesses = 0;
    }
}
