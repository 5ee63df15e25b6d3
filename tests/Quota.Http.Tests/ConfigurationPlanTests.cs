using System.Text.Json;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Grains.Configuration;
using Quota.Grains.Subjects;
using Quota.Server.Admin;

namespace Quota.Http.Tests;

/// <summary>
/// Planning an apply document: every write names its own subject and carries that subject's value from the document,
/// so applying a plan does not depend on the order its planner walked the document in (the writes of a document and of
/// the same document written in the opposite order are the same, and running them in either order ends the same).
/// </summary>
public sealed class ConfigurationPlanTests
{
    private const string RawKey = "raw-key-of-alice-0123456789";
    private static readonly ApiKeyHasher Hasher = new(Options.Create(new SecretOptions { Pepper = "plan-tests-pepper-0123456789" }));
    private static readonly string BobsKey = new('b', 64);

    [Fact]
    public void EveryWriteNamesItsOwnSubjectWithItsOwnValueWhateverTheDocumentsOrder()
    {
        var forward = Plan(Document(reversed: false));
        var backward = Plan(Document(reversed: true));

        string[] expected =
        [
            Describe(new SetSubjectPolicies(SubjectKind.User, "alice", [PerMinute(10)])),
            Describe(new SetSubjectPolicies(SubjectKind.User, "bob", [PerMinute(20)])),
            Describe(new SetKeyPolicies(BobsKey, [PerMinute(50)])),
            Describe(new RegisterKey(Hasher.KeyId(RawKey), "alice", RawKey, [PerMinute(60)])),
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), forward.Writes.Select(Describe).Order(StringComparer.Ordinal));
        Assert.Equal(expected.Order(StringComparer.Ordinal), backward.Writes.Select(Describe).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void RunningAPlansWritesInEitherOrderEndsTheSame()
    {
        var plan = Plan(Document(reversed: false));

        Assert.Equal(Run(plan.Writes), Run([.. plan.Writes.Reverse()]));
        Assert.Equal(
            new Dictionary<string, long> { ["key:" + BobsKey[..12]] = 50, ["key:" + Hasher.KeyId(RawKey)[..12]] = 60, ["user:alice"] = 10, ["user:bob"] = 20 },
            Run(plan.Writes));
    }

    [Fact]
    public void EachChangeSaysWhatHappensToItsSubjectAndUnchangedSubjectsGetNoWrite()
    {
        var plan = Plan(Document(reversed: true));

        Assert.Equal(
            new[] { "key:" + BobsKey[..12] + " update", "key:" + Hasher.KeyId(RawKey)[..12] + " register", "resource:telegram unchanged", "user:alice update", "user:bob create" }.Order(StringComparer.Ordinal),
            plan.SubjectChanges.Select(c => $"{c.Subject} {c.Action}").Order(StringComparer.Ordinal));
        Assert.DoesNotContain(plan.Writes, w => w.Subject == "resource:telegram");
        Assert.Empty(plan.TenancyChanges);
    }

    [Fact]
    public void TheTenancyPartIsOneWriteRunFirst()
    {
        var tenancy = new TenancyChange { Source = "apply", Tenants = { ["acme"] = new TenantSpec { Upstream = "bl" } } };
        var preview = new TenancyOutcome { Changes = [new TenancyChanged("tenant:acme", "create", null, """{"id":"acme"}""")] };

        var plan = ConfigurationPlan.Of(Document(reversed: false), Hasher.KeyId, Current(), Keys(), tenancy, preview);

        Assert.Same(tenancy, Assert.IsType<ChangeTenancy>(plan.Writes[0]).Change);
        Assert.Single(plan.Writes, w => w is ChangeTenancy);
        var change = Assert.Single(plan.TenancyChanges);
        Assert.Equal(("tenant:acme", "create"), (change.Subject, change.Action));
        Assert.Equal(plan.SubjectChanges.Count + 1, plan.Changes.Count);
    }

    private static ConfigurationPlan Plan(ApplyDocument document) => ConfigurationPlan.Of(document, Hasher.KeyId, Current(), Keys());

    /// <summary>alice has policies of her own (10 replaces 5), bob none, telegram already the document's; bob's key has 40 (50 replaces it); alice's raw key is new.</summary>
    private static ApplyDocument Document(bool reversed)
    {
        (string Id, long Limit)[] users = [("alice", 10), ("bob", 20)];
        KeyBody[] keys =
        [
            new() { User = "bob", KeyId = BobsKey, Policies = [PerMinute(50)] },
            new() { User = "alice", Key = RawKey, Policies = [PerMinute(60)] },
        ];
        if (reversed)
        {
            Array.Reverse(users);
            Array.Reverse(keys);
        }

        return new ApplyDocument
        {
            Users = users.ToDictionary(u => u.Id, u => (SubjectBody?)new SubjectBody { Policies = [PerMinute(u.Limit)] }),
            Resources = new() { ["telegram"] = new SubjectBody { Policies = [PerMinute(30)] } },
            Keys = [.. keys],
        };
    }

    private static Dictionary<string, SubjectPolicies> Current() => new()
    {
        ["user:alice"] = new SubjectPolicies { Subject = "user:alice", Known = true, Own = true, Policies = Normalized(PerMinute(5)) },
        ["user:bob"] = new SubjectPolicies { Subject = "user:bob", Known = true, Own = false, Policies = Normalized(PerMinute(1)) },
        ["resource:telegram"] = new SubjectPolicies { Subject = "resource:telegram", Known = true, Own = true, Policies = Normalized(PerMinute(30)) },
    };

    private static Dictionary<string, ApiKeyInfo> Keys() => new()
    {
        [BobsKey] = new ApiKeyInfo { KeyId = BobsKey, Owner = "bob", Policies = Normalized(PerMinute(40)) },
    };

    /// <summary>A store of one limit per subject that the writes change: what a plan comes to, whatever order it runs in.</summary>
    private static Dictionary<string, long> Run(IEnumerable<ConfigurationWrite> writes)
    {
        var store = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var write in writes)
        {
            store[write.Subject] = write switch
            {
                SetSubjectPolicies s => s.Policies.Single().Limit,
                SetKeyPolicies k => k.Policies!.Single().Limit,
                RegisterKey r => r.Policies!.Single().Limit,
                _ => throw new InvalidOperationException($"unexpected write {write}"),
            };
        }

        return store;
    }

    private static string Describe(ConfigurationWrite write) => $"{write.GetType().Name} {write.Subject} {JsonSerializer.Serialize(write, write.GetType())}";

    private static PolicySpec PerMinute(long limit) => new() { Name = "per-minute", Algorithm = "fixed-window", Limit = limit, Window = TimeSpan.FromMinutes(1) };

    private static PolicySpec[] Normalized(PolicySpec spec) => [.. PolicySpec.ToDefinitions([spec], "policies", out _)!.Select(PolicySpec.From)];
}
