namespace Quota.Grains;

/// <summary>
/// The one clock of quota logic. It wraps a <see cref="TimeProvider"/> instead of using the container's
/// <see cref="TimeProvider"/> because Orleans resolves that one for its own watchdog and activation collector:
/// tests fake quota time through this without freezing the runtime.
/// </summary>
public sealed class QuotaTime(TimeProvider provider)
{
    /// <summary>The real clock.</summary>
    public static QuotaTime System { get; } = new(TimeProvider.System);

    /// <summary>The time provider every quota decision reads, once per decision.</summary>
    public TimeProvider Provider { get; } = provider ?? throw new ArgumentNullException(nameof(provider));
}
