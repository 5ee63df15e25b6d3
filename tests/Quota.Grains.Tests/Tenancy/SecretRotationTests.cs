using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Quota.Abstractions;
using Quota.Client;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;
using Quota.Grains.Tenancy;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// The re-encryption step of a master-key rotation, on a cluster whose master keys are (new, old) and whose store
/// already holds token secrets sealed under the old key, under the new one, and under a key no longer listed.
/// </summary>
public sealed class SecretRotationTests : IAsyncLifetime
{
    private static readonly string OldKey = NewKey();
    private static readonly string NewestKey = NewKey();
    private static readonly string RemovedKey = NewKey();
    private readonly SharedStorage _storage = new();
    private InProcessTestCluster _cluster = null!;

    public async ValueTask InitializeAsync()
    {
        _cluster = await new QuotaTestCluster
        {
            Time = new FakeTimeProvider(new DateTimeOffset(2026, 5, 4, 0, 0, 0, TimeSpan.Zero)),
            Storage = _storage,
            Settings = new Dictionary<string, string?>
            {
                ["Quota:Secrets:Pepper"] = "rotation-tests-pepper-0123456789",
                ["Quota:Scheduler:Enabled"] = "false",
                ["Quota:Secrets:MasterKeys:0"] = NewestKey,
                ["Quota:Secrets:MasterKeys:1"] = OldKey,
            },
        }.StartAsync();
    }

    public ValueTask DisposeAsync() => QuotaTestCluster.StopAsync(_cluster);

    [Fact]
    public async Task EverySecretUnderAnOlderKeyIsSealedAgainUnderTheNewestAndASecondRunChangesNothing()
    {
        static string Purpose(string id) => TenancyModel.SecretPurpose("rot", id);
        var old = Protector(OldKey);
        var current = Protector(NewestKey, OldKey);
        var stored = new TenancyState();
        stored.Upstreams["rot"] = new StoredUpstream
        {
            Tokens =
            {
                ["t1"] = new StoredToken { Policies = [TenancyFixture.PerMinute(100)], SecretEnvelope = old.Protect("first secret", Purpose("t1")) },
                ["t2"] = new StoredToken { Policies = [TenancyFixture.PerMinute(100)] },
                ["t3"] = new StoredToken { Policies = [TenancyFixture.PerMinute(100)], SecretEnvelope = Protector(RemovedKey).Protect("lost secret", Purpose("t3")) },
                ["t4"] = new StoredToken { Policies = [TenancyFixture.PerMinute(100)], SecretEnvelope = current.Protect("fourth secret", Purpose("t4")) },
            },
        };
        var tenancy = _cluster.Client.GetGrain<ITenancyGrain>(0);
        await _storage.WriteStateAsync("tenancy", tenancy.GetGrainId(), new GrainState<TenancyState>(stored));

        var first = await tenancy.ReencryptSecretsAsync();

        Assert.Equal(current.CurrentKeyId, first.KeyId);
        Assert.Equal(1, first.Reencrypted);
        Assert.Equal(1, first.Current);
        var unreadable = Assert.Single(first.Unreadable);
        Assert.StartsWith("rot/t3: ", unreadable, StringComparison.Ordinal);
        Assert.Contains(Protector(RemovedKey).CurrentKeyId!, unreadable, StringComparison.Ordinal);
        Assert.DoesNotContain("lost secret", unreadable, StringComparison.Ordinal);

        // t1 is now under the newest key, still opens to the same secret, and reaches callers that ask for it.
        var setup = (await tenancy.GetTokenSetupAsync("rot", "t1"))!;
        Assert.StartsWith($"v1.{current.CurrentKeyId}.", setup.SecretEnvelope, StringComparison.Ordinal);
        Assert.Equal("first secret", current.Unprotect(setup.SecretEnvelope!, Purpose("t1")));
        var quota = new QuotaClient(_cluster.Client);
        var granted = await quota.AcquireAsync(new AcquireRequest { Upstream = "rot", IncludeSecret = true });
        Assert.Equal("t1", granted.Token!.Id);
        Assert.Equal("first secret", granted.Token.Secret);

        // The change log says what happened, without the secret.
        var log = await _cluster.Client.GetGrain<IChangeLogGrain>(0).ListAsync(10, "token:rot/t1");
        Assert.Equal("reencrypt", Assert.Single(log).Action);
        Assert.DoesNotContain("first secret", log[0].New, StringComparison.Ordinal);

        var second = await tenancy.ReencryptSecretsAsync();
        Assert.Equal(0, second.Reencrypted);
        Assert.Equal(2, second.Current);
        Assert.Single(second.Unreadable);
    }

    private static SecretProtector Protector(params string[] keys) =>
        new(Options.Create(new SecretOptions { MasterKeys = [.. keys] }));

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
