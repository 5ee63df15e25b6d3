using System.Collections.Concurrent;

namespace Quota.Client;

/// <summary>
/// Deadlines for calls, shared: every call due in the same tick of <see cref="Resolution"/> waits on one
/// <see cref="CancellationTokenSource"/>, so a call costs a registration on a token instead of a timer of its own.
/// </summary>
/// <remarks>
/// A timer per call (<c>Task.WaitAsync(TimeSpan)</c>) made decisions through the Orleans client about a tenth slower
/// against the bare grain call at 16-256 in flight (docs/benchmarks.md, issue 17). A deadline is a backstop for a call
/// Orleans left unanswered, so it may fire up to one <see cref="Resolution"/> late. Sources are made on demand, one per
/// tick with a call due in it (a few dozen at most for the answer timeout alone), and dropped as they fire.
/// </remarks>
internal sealed class CallDeadlines(TimeProvider time)
{
    /// <summary>How much later than asked a deadline may fire.</summary>
    public static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(250);

    private static readonly long ResolutionMs = (long)Resolution.TotalMilliseconds;
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _ticks = new();

    /// <summary>The deadlines of every Quota client in the process, on the system clock.</summary>
    public static CallDeadlines Shared { get; } = new(TimeProvider.System);

    /// <summary>Ticks with a source waiting to fire.</summary>
    public int Pending => _ticks.Count;

    /// <summary>A token cancelled between <paramref name="after"/> and <paramref name="after"/> + <see cref="Resolution"/> from now.</summary>
    public CancellationToken After(TimeSpan after)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var tick = ((now + (long)after.TotalMilliseconds) / ResolutionMs) + 1;
        if (_ticks.TryGetValue(tick, out var shared))
        {
            return shared.Token;
        }

        var made = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        shared = _ticks.GetOrAdd(tick, made);
        if (!ReferenceEquals(shared, made))
        {
            made.Dispose();
            return shared.Token;
        }

        // Dropped as it fires (not disposed: tokens handed out may still be registered on).
        made.Token.UnsafeRegister(static state =>
        {
            var (ticks, tick) = ((ConcurrentDictionary<long, CancellationTokenSource>, long))state!;
            ticks.TryRemove(tick, out _);
        }, (_ticks, tick));
        made.CancelAfter(TimeSpan.FromMilliseconds((tick * ResolutionMs) - now));
        return made.Token;
    }
}
