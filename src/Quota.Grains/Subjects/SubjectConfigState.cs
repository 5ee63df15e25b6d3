using Quota.Abstractions;

namespace Quota.Grains.Subjects;

/// <summary>
/// What a subject persists: its own policies when set (otherwise it uses the configured defaults) and, for an
/// API key, its owner. Windows and counters are not here: they live in memory (see <see cref="SubjectActivation"/>).
/// </summary>
[GenerateSerializer, Alias("quota.SubjectConfigState")]
public sealed class SubjectConfigState
{
    /// <summary>The subject's own policies; null means the configured defaults.</summary>
    [Id(0)] public PolicySpec[]? Policies { get; set; }

    /// <summary>An API key's owning user; null for other subjects and unregistered keys.</summary>
    [Id(1)] public string? Owner { get; set; }
}
