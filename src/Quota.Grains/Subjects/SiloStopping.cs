namespace Quota.Grains.Subjects;

/// <summary>
/// Tells this silo's subjects that the silo has begun a graceful stop, while its messaging and gateways still work:
/// a subject with callers waiting answers each of them at once with a retryable denial (overloaded, with the
/// configured <c>Retry-After</c>; nothing was taken for them), as the HTTP front door answers its own waiters.
/// Waiting for Orleans to deactivate the subject would be too late: it cancels the calls still running first, so
/// their callers would get a cancellation they did not ask for, or no answer at all when the gateway they came
/// through is already gone.
/// </summary>
public sealed class SiloStopping : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the silo begins to stop (the first stage stopped, <see cref="ServiceLifecycleStage.Active"/>).</summary>
    public CancellationToken Token => _stopping.Token;

    /// <summary>Whether the silo has begun to stop.</summary>
    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <inheritdoc />
    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(nameof(SiloStopping), ServiceLifecycleStage.Active, _ => Task.CompletedTask, _ =>
        {
            _stopping.Cancel();
            return Task.CompletedTask;
        });
    }

    /// <inheritdoc />
    public void Dispose() => _stopping.Dispose();
}
