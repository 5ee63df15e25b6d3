using Quota.Abstractions;

namespace Quota.Grains.Queues;

/// <summary>A queue's persisted state: its definition (items live in memory).</summary>
[GenerateSerializer, Alias("quota.QueueGrainState")]
public sealed class QueueGrainState
{
    /// <summary>The definition; null when removed.</summary>
    [Id(0)] public QueueDefinition? Definition { get; set; }
}
