using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>A token's grain key is built and read in one place, and reading gives back what was built.</summary>
public sealed class TokenKeysTests
{
    [Theory]
    [InlineData("baselinker", "t1", "baselinker/t1")]
    [InlineData("big upstream", "token:2", "big upstream/token:2")]
    [InlineData("api", "a/b", "api/a/b")]
    public void AKeyIsTheUpstreamASlashAndTheToken(string upstream, string token, string key)
    {
        Assert.Equal(key, TokenKeys.Key(upstream, token));
        Assert.Equal((upstream, token), TokenKeys.Parse(key));
    }

    [Theory]
    [InlineData("baselinker")]
    [InlineData("/t1")]
    public void AKeyWithoutAnUpstreamAndASlashNamesNoToken(string key) => Assert.Equal((key, string.Empty), TokenKeys.Parse(key));
}
