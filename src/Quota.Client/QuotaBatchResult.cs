using Quota.Abstractions;

namespace Quota.Client;

/// <summary>What one attempt of a batch item was admitted on, handed to the handler.</summary>
/// <param name="Index">The item's position in the input.</param>
/// <param name="Attempt">This attempt's number, from 1.</param>
/// <param name="Lane">The lane whose decision admitted it.</param>
/// <param name="Token">The upstream token Quota chose, when the lane names an upstream or a tenant; never its secret.</param>
public sealed record BatchAttempt(int Index, int Attempt, string Lane, UpstreamToken? Token);

/// <summary>How one item of a batch ended.</summary>
/// <typeparam name="TResult">What the handler returns.</typeparam>
/// <param name="Index">The item's position in the input.</param>
/// <param name="Succeeded">True when an attempt returned; false when the item was dead-lettered.</param>
/// <param name="Value">The successful attempt's result; default when dead.</param>
/// <param name="Attempts">Attempts made (each took a permit).</param>
/// <param name="Lane">The lane of the last attempt.</param>
/// <param name="Token">The upstream token of the last attempt, if any.</param>
/// <param name="Error">The last attempt's exception when dead-lettered; null when it succeeded.</param>
public sealed record BatchItemResult<TResult>(int Index, bool Succeeded, TResult? Value, int Attempts, string Lane, UpstreamToken? Token, Exception? Error)
{
    /// <summary>True when the item failed every attempt.</summary>
    public bool Dead => !Succeeded;
}

/// <summary>Attempts per lane or token: how many were admitted and how they ended.</summary>
/// <param name="Attempts">Attempts admitted on it (each took a permit there).</param>
/// <param name="Succeeded">Attempts that returned.</param>
/// <param name="Failed">Attempts that threw.</param>
public sealed record BatchUse(int Attempts, int Succeeded, int Failed);

/// <summary>
/// A finished batch: every item's result in input order (<see cref="Items"/>[i] is input i's), dead letters, and the
/// statistics.
/// </summary>
/// <typeparam name="TResult">What the handler returns.</typeparam>
public sealed class BatchResult<TResult>
{
    internal BatchResult(BatchItemResult<TResult>[] items, IReadOnlyDictionary<string, BatchUse> perLane, IReadOnlyDictionary<string, BatchUse> perToken, TimeSpan elapsed)
    {
        Items = items;
        PerLane = perLane;
        PerToken = perToken;
        Elapsed = elapsed;
    }

    /// <summary>Every item's result, in input order.</summary>
    public IReadOnlyList<BatchItemResult<TResult>> Items { get; }

    /// <summary>The items that failed every attempt, in input order.</summary>
    public IEnumerable<BatchItemResult<TResult>> DeadLetters => Items.Where(i => i.Dead);

    /// <summary>Items that succeeded.</summary>
    public int Succeeded => Items.Count(i => i.Succeeded);

    /// <summary>Succeeded items over all items; 1 for an empty batch.</summary>
    public double SuccessRate => Items.Count == 0 ? 1 : (double)Succeeded / Items.Count;

    /// <summary>Attempts made over every item.</summary>
    public int TotalAttempts => Items.Sum(i => i.Attempts);

    /// <summary>Attempts by lane name (every lane present, 0 when unused).</summary>
    public IReadOnlyDictionary<string, BatchUse> PerLane { get; }

    /// <summary>Attempts by upstream token (<c>upstream/token</c>), for lanes that name an upstream or tenant.</summary>
    public IReadOnlyDictionary<string, BatchUse> PerToken { get; }

    /// <summary>The batch's duration on its clock (<see cref="QuotaBatchOptions.Time"/>).</summary>
    public TimeSpan Elapsed { get; }
}
