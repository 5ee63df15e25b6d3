using Quota.Abstractions;
using Quota.Grains.Configuration;

namespace Quota.Grains.Tests;

public sealed class PolicyCatalogTests
{
    [Fact]
    public void BuiltInDefaultsGiveUsersAndTelegramTheirPolicies()
    {
        var catalog = PolicyCatalog.TryBuild(new PolicyOptions(), out var errors)!;
        Assert.Empty(errors);
        Assert.Equal(100, catalog.DefaultsFor(SubjectKind.User, "anyone")!.Single().Limit);
        var telegram = catalog.DefaultsFor(SubjectKind.Resource, "telegram")!.Single();
        Assert.Equal((30, 30L), (telegram.Limit, telegram.Burst!.Value));
        Assert.Equal(20, catalog.DefaultsFor(SubjectKind.Resource, "telegram:chat:-1001")!.Single().Limit);
        Assert.Null(catalog.DefaultsFor(SubjectKind.Resource, "telegram:chat:"));
        Assert.Null(catalog.DefaultsFor(SubjectKind.Resource, "unknown"));
        Assert.Empty(catalog.DefaultsFor(SubjectKind.ApiKey, "k")!);
    }

    [Fact]
    public void ThePoliciesFileOverridesConfigurationAndTheLongestPatternWins()
    {
        var file = Path.Combine(Path.GetTempPath(), $"quota-policies-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """
            {
              // comments are allowed
              "users": [ { "name": "per-hour", "algorithm": "fixed-window", "limit": 5000, "window": "01:00:00" } ],
              "resources": [
                { "name": "telegram", "policies": [ { "name": "per-second", "algorithm": "token-bucket", "limit": 25, "window": "00:00:01" } ] },
                { "name": "telegram:chat:vip:*", "policies": [ { "name": "per-minute", "algorithm": "sliding-window", "limit": 60, "window": "00:01:00" } ] }
              ]
            }
            """);
        try
        {
            var catalog = PolicyCatalog.TryBuild(new PolicyOptions { File = file }, out var errors)!;
            Assert.Empty(errors);
            Assert.Equal("per-hour", catalog.DefaultsFor(SubjectKind.User, "a")!.Single().Name);
            Assert.Equal(25, catalog.DefaultsFor(SubjectKind.Resource, "telegram")!.Single().Limit);
            Assert.Equal(60, catalog.DefaultsFor(SubjectKind.Resource, "telegram:chat:vip:42")!.Single().Limit);
            Assert.Equal(20, catalog.DefaultsFor(SubjectKind.Resource, "telegram:chat:42")!.Single().Limit);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void InvalidConfigurationIsRejectedWithEveryProblemAndWhereItIs()
    {
        var options = new PolicyOptions
        {
            Users = [new PolicySpec { Name = "per-minute", Algorithm = "sliding-window", Limit = 0, Window = TimeSpan.FromMinutes(1) }],
            Resources =
            [
                new ResourcePolicies { Name = "bad*name", Policies = [new PolicySpec { Name = "x", Algorithm = "fixed-window", Limit = 1, Window = TimeSpan.FromSeconds(1) }] },
                new ResourcePolicies { Name = "weird", Policies = [new PolicySpec { Name = "x", Algorithm = "leaky", Limit = 1 }] },
                new ResourcePolicies { Name = "daily", Policies = [new PolicySpec { Name = "d", Algorithm = "calendar", Limit = 5, Period = "day", TimeZone = "Mars/Olympus" }] },
            ],
        };

        Assert.Null(PolicyCatalog.TryBuild(options, out var errors));
        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("Quota:Policies:Users[0].limit:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Quota:Policies:Resources[0].name:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Quota:Policies:Resources[1].policies[0].algorithm: 'leaky'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Quota:Policies:Resources[2].policies[0].timeZone: 'Mars/Olympus'", StringComparison.Ordinal));
    }

    [Fact]
    public void AnUnreadablePoliciesFileIsAnErrorNamingIt()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.json");
        Assert.Null(PolicyCatalog.TryBuild(new PolicyOptions { File = missing }, out var errors));
        Assert.StartsWith($"{missing}: cannot read the policies file", Assert.Single(errors), StringComparison.Ordinal);
    }
}
