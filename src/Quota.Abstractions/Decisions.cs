using System.Text.Json;
using System.Text.Json.Serialization;
using Quota.Algorithms.Limiting;

namespace Quota.Abstractions;

/// <summary>
/// One question: may these subjects spend <see cref="Cost"/> now? Names any of a user, an API key (raw; hashed
/// in the silo and never stored), a tenant, an upstream and resources; at least one.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.AcquireRequest")]
public sealed record AcquireRequest
{
    /// <summary>User id, e.g. <c>alice</c>.</summary>
    [Id(0)] public string? User { get; init; }

    /// <summary>The raw inbound API key; it counts against the key's policies and its owner's.</summary>
    [Id(1)] public string? ApiKey { get; init; }

    /// <summary>Tenant id: its reserve and lease apply, and a token is chosen from its upstream.</summary>
    [Id(2)] public string? Tenant { get; init; }

    /// <summary>Upstream name: a token of it is chosen (implied by the tenant when omitted).</summary>
    [Id(3)] public string? Upstream { get; init; }

    /// <summary>Resource names, e.g. <c>telegram</c>, <c>telegram:chat:-1001</c>.</summary>
    [Id(4)] public string[]? Resources { get; init; }

    /// <summary>Permits to take; 0 peeks. Default: 1.</summary>
    [Id(5)] public long Cost { get; init; } = 1;

    /// <summary>Order among waiting callers. Default: normal.</summary>
    [Id(6)] public Priority Priority { get; init; } = Priority.Normal;

    /// <summary>How long to wait for capacity, in milliseconds; 0 answers at once. Default: 0.</summary>
    [Id(7)] public long MaxWaitMs { get; init; }

    /// <summary>Reserve: the cost is an estimate to be settled with the actual cost later.</summary>
    [Id(8)] public bool Reserve { get; init; }

    /// <summary>
    /// With an upstream: answer the chosen token's decrypted secret as well as its id. Only admin-scoped callers may
    /// ask (over HTTP, those the admin gate admits); others receive the token id.
    /// </summary>
    [Id(9)] public bool IncludeSecret { get; init; }
}

/// <summary>What a decision came to.</summary>
[GenerateSerializer, Alias("quota.DecisionOutcome")]
public enum DecisionOutcome
{
    /// <summary>Every named limit admitted the request.</summary>
    Allowed = 0,

    /// <summary>A limit denied it now; <see cref="AcquireResult.RetryAfterMs"/> says when it would be admitted.</summary>
    Denied = 1,

    /// <summary>The cost exceeds what a named policy can ever admit at once; waiting does not help.</summary>
    CostExceedsLimit = 2,

    /// <summary>A named subject does not exist (an unregistered key, an unconfigured resource); see <see cref="AcquireResult.Problem"/>.</summary>
    UnknownSubject = 3,

    /// <summary>The request itself is invalid; see <see cref="AcquireResult.Problem"/>.</summary>
    Invalid = 4,

    /// <summary>
    /// The silo is at a configured ceiling (<c>Quota:Limits</c>: active subjects, work in flight) and shed the
    /// request before deciding it: nothing was consumed anywhere; retry after <see cref="AcquireResult.RetryAfterMs"/>.
    /// </summary>
    Overloaded = 5,
}

/// <summary>
/// Why a request was not admitted: by a policy (named by <see cref="AcquireResult.LimitedBy"/>), or by something that
/// is not a policy. Written in JSON in lower case (<c>policy</c>, <c>queue</c>, ...).
/// </summary>
[GenerateSerializer, Alias("quota.DenialCause")]
public enum DenialCause
{
    /// <summary>Not denied: allowed, or refused before any limit was asked (invalid, unknown subject).</summary>
    None = 0,

    /// <summary>A policy of the subject had no capacity (or can never admit the cost).</summary>
    Policy = 1,

    /// <summary>Callers ahead in the subject's queue come first; the capacity is theirs.</summary>
    Queue = 2,

    /// <summary>The subject could not write its durable counters in time to admit more (write-behind ceiling); retry shortly.</summary>
    Checkpoint = 3,

    /// <summary>The upstream token's circuit is open after repeated failures.</summary>
    Circuit = 4,

    /// <summary>The upstream answered with a Retry-After for this token; it is paused until then.</summary>
    Paused = 5,

    /// <summary>The tenant has no allowance now (no reserve and no lease from the pool yet).</summary>
    Allowance = 6,

    /// <summary>The token's stored secret cannot be opened under the configured master keys.</summary>
    Secret = 7,

    /// <summary>The silo is at a configured ceiling and shed the request (<see cref="DecisionOutcome.Overloaded"/>).</summary>
    Overloaded = 8,
}

/// <summary>The names of <see cref="DenialCause"/> as they appear on the wire.</summary>
public static class DenialCauses
{
    /// <summary>
    /// The lower-case name of a cause: the value of the answer's <c>cause</c> field and, for a cause that is not a
    /// policy, what <see cref="AcquireResult.LimitedBy"/> names after the subject (<c>token:api/t1/circuit</c>).
    /// </summary>
    public static string Name(DenialCause cause) => cause switch
    {
        DenialCause.None => "none",
        DenialCause.Policy => "policy",
        DenialCause.Queue => "queue",
        DenialCause.Checkpoint => "checkpoint",
        DenialCause.Circuit => "circuit",
        DenialCause.Paused => "paused",
        DenialCause.Allowance => "allowance",
        DenialCause.Secret => "secret",
        DenialCause.Overloaded => "overloaded",
        _ => throw new ArgumentOutOfRangeException(nameof(cause), cause, "Not a denial cause."),
    };
}

/// <summary>One policy's state after a decision, for headers and the answer's <c>policies</c> list.</summary>
[GenerateSerializer, Immutable, Alias("quota.PolicyState")]
public sealed record PolicyState
{
    /// <summary>The subject's label, e.g. <c>user:alice</c>.</summary>
    [Id(0)] public required string Subject { get; init; }

    /// <summary>The policy's name.</summary>
    [Id(1)] public required string Policy { get; init; }

    /// <summary>The policy's algorithm; JSON writes its name (<c>token-bucket</c>, <see cref="PolicySpec.AlgorithmName"/>).</summary>
    [JsonConverter(typeof(AlgorithmNameJsonConverter))]
    public required AlgorithmKind Algorithm { get => (AlgorithmKind)_algorithm; init => _algorithm = (byte)value; }

    // Orleans carries the algorithm as its number: AlgorithmKind lives in the algorithms assembly, which has no Orleans
    // (and so no serializer of its own).
    [Id(2)] private byte _algorithm;

    /// <summary>The capacity (burst for a token bucket).</summary>
    [Id(3)] public long Limit { get; init; }

    /// <summary>Permits left now.</summary>
    [Id(4)] public long Remaining { get; init; }

    /// <summary>The window or current calendar period in whole seconds; null for concurrency.</summary>
    [Id(5)] public long? WindowSeconds { get; init; }

    /// <summary>Milliseconds until the policy is back to full capacity.</summary>
    [Id(6)] public long ResetAfterMs { get; init; }

    /// <summary>
    /// For a token bucket whose burst is not its limit: the permits it refills per <see cref="WindowSeconds"/>, its
    /// steady rate (<see cref="Limit"/> is then the burst); null otherwise. For planners (queues, <c>/v1/plan</c>,
    /// <c>QuotaBatch.Plan</c>); not written in JSON answers, whose fields stay as docs/api.md gives them.
    /// </summary>
    [Id(7), System.Text.Json.Serialization.JsonIgnore] public long? Refill { get; init; }
}

/// <summary>Writes and reads an <see cref="AlgorithmKind"/> as its name in JSON (<c>token-bucket</c>, <c>sliding-window</c>, ...).</summary>
public sealed class AlgorithmNameJsonConverter : JsonConverter<AlgorithmKind>
{
    /// <inheritdoc />
    public override AlgorithmKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetString() is { } name && PolicySpec.Algorithms.TryGetValue(name, out var kind)
            ? kind
            : throw new JsonException($"'{reader.GetString()}' is not an algorithm; use one of {string.Join(", ", PolicySpec.Algorithms.Keys)}.");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, AlgorithmKind value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(PolicySpec.AlgorithmName(value));
    }
}

/// <summary>An upstream credential chosen for the caller.</summary>
[GenerateSerializer, Immutable, Alias("quota.UpstreamToken")]
public sealed record UpstreamToken
{
    /// <summary>The token's id.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>The upstream it belongs to.</summary>
    [Id(1)] public required string Upstream { get; init; }

    /// <summary>The decrypted credential, only when the request asked for it (admin-scoped callers).</summary>
    [Id(2)] public string? Secret { get; init; }
}

/// <summary>
/// The answer to an <see cref="AcquireRequest"/>. All or nothing: when not allowed, nothing was consumed anywhere.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.AcquireResult")]
public sealed record AcquireResult
{
    /// <summary>Whether every named limit admitted the request.</summary>
    [Id(0)] public bool Allowed { get; init; }

    /// <summary>What the decision came to.</summary>
    [Id(1)] public DecisionOutcome Outcome { get; init; }

    /// <summary>
    /// The denying subject and policy, e.g. <c>user:alice/per-minute</c>; for a <see cref="Cause"/> that is not a policy,
    /// the subject and the cause's name (<c>user:alice/queue</c>, <c>token:api/t1/circuit</c>); null when allowed.
    /// </summary>
    [Id(2)] public string? LimitedBy { get; init; }

    /// <summary>Permits left on the most constrained policy.</summary>
    [Id(3)] public long Remaining { get; init; }

    /// <summary>The capacity of the most constrained policy.</summary>
    [Id(4)] public long Limit { get; init; }

    /// <summary>Milliseconds until the most constrained policy is back to full capacity.</summary>
    [Id(5)] public long ResetAfterMs { get; init; }

    /// <summary>0 when allowed; otherwise the exact milliseconds until the same request would be admitted (rounded up); -1 when never.</summary>
    [Id(6)] public long RetryAfterMs { get; init; }

    /// <summary>The chosen upstream token, when the request named a tenant or an upstream.</summary>
    [Id(7)] public UpstreamToken? Token { get; init; }

    /// <summary>
    /// The lease id, identifying a reservation or concurrency lease to settle or release: the request's lease nonce and
    /// the subjects holding it, encoded by <see cref="LeaseIds"/>; null when there is none.
    /// </summary>
    [Id(8)] public string? LeaseId { get; init; }

    /// <summary>Every policy consulted, with its state after the decision.</summary>
    [Id(9)] public PolicyState[] Policies { get; init; } = [];

    /// <summary>
    /// For <see cref="DecisionOutcome.UnknownSubject"/> and <see cref="DecisionOutcome.Invalid"/>: which field, and what
    /// is wrong; for <see cref="DecisionOutcome.Overloaded"/>: which subject was shed, and why.
    /// </summary>
    [Id(10)] public FieldProblem? Problem { get; init; }

    /// <summary>Why the request was not admitted; <see cref="DenialCause.None"/> when allowed.</summary>
    [Id(11)] public DenialCause Cause { get; init; }
}

/// <summary>A problem with one field of a request: its JSON path and what to do.</summary>
[GenerateSerializer, Immutable, Alias("quota.FieldProblem")]
public sealed record FieldProblem([property: Id(0)] string Field, [property: Id(1)] string Detail)
{
    /// <summary><c>field: detail</c>, as logs and exception messages show it.</summary>
    public override string ToString() => $"{Field}: {Detail}";
}

/// <summary>The outcome of settling or releasing a lease.</summary>
[GenerateSerializer, Alias("quota.LeaseOutcome")]
public enum LeaseOutcome
{
    /// <summary>Done.</summary>
    Done = 0,

    /// <summary>No subject holds that lease: it was never issued, already settled or released, or expired.</summary>
    NotFound = 1,

    /// <summary>The lease id is malformed.</summary>
    Invalid = 2,
}

/// <summary>A subject's usage: every policy's state now.</summary>
[GenerateSerializer, Immutable, Alias("quota.UsageReport")]
public sealed record UsageReport
{
    /// <summary>The subject's label.</summary>
    [Id(0)] public required string Subject { get; init; }

    /// <summary>Whether the subject exists (a key is registered, a resource is configured).</summary>
    [Id(1)] public bool Known { get; init; }

    /// <summary>Each policy's state now.</summary>
    [Id(2)] public PolicyState[] Policies { get; init; } = [];

    /// <summary>Callers waiting for capacity on this subject now.</summary>
    [Id(3)] public int Waiting { get; init; }

    /// <summary>
    /// The silo was at its ceiling of active subjects (<c>Quota:Limits:MaxActiveSubjects</c>) and did not read the
    /// subject: nothing is known of it now; retry after <see cref="RetryAfterMs"/>.
    /// </summary>
    [Id(4), System.Text.Json.Serialization.JsonIgnore] public bool Overloaded { get; init; }

    /// <summary>With <see cref="Overloaded"/>: milliseconds to wait before asking again; 0 otherwise.</summary>
    [Id(5), System.Text.Json.Serialization.JsonIgnore] public long RetryAfterMs { get; init; }

    /// <summary>
    /// The id breaks the name rule (<see cref="RequestRules.IsName"/>): the problem, with the field and detail the
    /// HTTP front door answers in its <c>400</c>; nothing was read and <see cref="Known"/> is false. Null otherwise.
    /// </summary>
    [Id(6), System.Text.Json.Serialization.JsonIgnore] public FieldProblem? Problem { get; init; }
}
