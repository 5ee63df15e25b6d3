using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <summary>A user: every user exists and has the user policies (its own, or the defaults).</summary>
[GrainType("user")]
public sealed class UserGrain(
    SubjectServices services,
    ILogger<UserGrain> logger)
    : SubjectGrain(services, logger, SubjectKind.User, SubjectExistence.Always), IUserGrain;

/// <summary>
/// A configured resource, or one instance of a configured pattern; unknown otherwise. A resource named by Envoy's
/// rate-limit service (<c>rls:{hash}:…</c>) takes its policies from the content-addressed set its name carries
/// (<see cref="Rls.DescriptorPolicyBook"/>), read once when it activates.
/// </summary>
[GrainType("resource")]
public sealed class ResourceGrain(
    SubjectServices services,
    ILogger<ResourceGrain> logger,
    Rls.DescriptorPolicyBook descriptorPolicies)
    : SubjectGrain(services, logger, SubjectKind.Resource, SubjectExistence.WhenConfigured), IResourceGrain
{
    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Rls.DescriptorPolicyBook.HashIn(this.GetPrimaryKeyString()) is { } hash)
        {
            Subject.Supply(new Rls.DescriptorPolicySource(await descriptorPolicies.GetAsync(hash)), Rls.DescriptorPolicySource.NoGate);
        }

        await base.OnActivateAsync(cancellationToken);
    }
}

/// <summary>
/// An inbound API key, keyed by its key id (peppered hash). It knows its owner; a request with the key counts
/// against the key's own policies here and its owner's in the user grain.
/// </summary>
[GrainType("apikey")]
public sealed class ApiKeyGrain(
    SubjectServices services,
    ILogger<ApiKeyGrain> logger)
    : SubjectGrain(services, logger, SubjectKind.ApiKey, SubjectExistence.WhenRegistered), IApiKeyGrain
{
    /// <inheritdoc />
    public async Task<ApiKeyInfo> RegisterAsync(string owner, PolicySpec[]? policies)
    {
        var problems = new List<FieldProblem>();
        RequestRules.CheckName(problems, "user", owner);
        if (string.IsNullOrEmpty(owner) || problems.Count > 0)
        {
            throw new ArgumentException(problems.Count > 0 ? $"{problems[0].Field}: {problems[0].Detail}" : "user: a key needs an owning user.", nameof(owner));
        }

        if (policies is not null)
        {
            PolicySpec.ThrowIfInvalid(policies, "policies");
        }

        await Subject.LoadIfShedAsync();
        Subject.Config.Owner = owner;
        Subject.Config.Policies = policies;
        await Subject.SaveAndReloadAsync();
        return Info();
    }

    /// <inheritdoc />
    public async Task<ApiKeyInfo?> GetInfoAsync()
    {
        await Subject.LoadIfShedAsync();
        var info = Subject.StoredConfig?.Owner is null ? null : Info();
        Subject.LetGoIfUntouched();
        return info;
    }

    /// <inheritdoc />
    public async Task<bool> RevokeAsync()
    {
        await Subject.LoadIfShedAsync();
        if (Subject.StoredConfig?.Owner is null)
        {
            return false;
        }

        Subject.Config.Owner = null;
        Subject.Config.Policies = null;
        await Subject.ClearAndReloadAsync();
        return true;
    }

    /// <remarks>
    /// The policies are answered as they apply, normalised like a user's or a resource's (a token bucket shows its
    /// burst), not as they were written: otherwise a declarative apply would see every key whose document omits a
    /// default as changed, and the change log would show keys in a different form from other subjects.
    /// </remarks>
    private ApiKeyInfo Info() => new()
    {
        KeyId = Subject.Id,
        Owner = Subject.Config.Owner!,
        Policies = Subject.Config.Policies is { } own && PolicySpec.ToDefinitions(own, "policies", out _) is { } definitions
            ? [.. definitions.Select(PolicySpec.From)]
            : Subject.Config.Policies ?? [],
    };
}

/// <summary>The grain storage provider every Quota grain persists to.</summary>
public static class QuotaStorage
{
    /// <summary>The provider's name: <c>quota</c>.</summary>
    public const string Name = "quota";
}
