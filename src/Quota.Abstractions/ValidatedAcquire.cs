namespace Quota.Abstractions;

/// <summary>
/// An <see cref="AcquireRequest"/> that passed <see cref="RequestRules.TryValidate"/> where it entered (the HTTP
/// endpoint or the client): names obey the name rule, cost and wait are not negative, the priority is one of the four,
/// at least one subject is named. The inside (the coordinator and the subjects) trusts it and does not check again;
/// only the silo's own ceiling on waiting (<c>Quota:Decisions:MaxWait</c>), which a client cannot know, is applied
/// where the silo is reached.
/// </summary>
/// <remarks>
/// A struct, so validating adds no allocation to a decision. Made only by <see cref="RequestRules.TryValidate"/>;
/// <c>default</c> holds no request and is refused.
/// </remarks>
[GenerateSerializer, Immutable, Alias("quota.ValidatedAcquire")]
public struct ValidatedAcquire
{
    [Id(0)] private AcquireRequest? _request;

    internal ValidatedAcquire(AcquireRequest request) => _request = request;

    /// <summary>The request as validated.</summary>
    /// <exception cref="InvalidOperationException">This is <c>default</c>: no request was validated.</exception>
    public readonly AcquireRequest Request => _request ?? throw new InvalidOperationException("No request was validated: make a ValidatedAcquire with RequestRules.TryValidate.");
}
