using System.Text.Json;
using Quota.Abstractions;

namespace Quota.Grains.Tests;

/// <summary>A tenant strategy is an enum inside and its lower-case name at the edges, in both directions.</summary>
public sealed class TenantStrategiesTests
{
    [Theory]
    [InlineData("shared", TenantStrategy.Shared)]
    [InlineData("dedicated", TenantStrategy.Dedicated)]
    [InlineData("hybrid", TenantStrategy.Hybrid)]
    [InlineData("Hybrid", TenantStrategy.Hybrid)]
    [InlineData("DEDICATED", TenantStrategy.Dedicated)]
    public void AWrittenNameParsesWhateverItsCase(string text, TenantStrategy expected)
    {
        Assert.True(TenantStrategies.TryParse(text, out var strategy));
        Assert.Equal(expected, strategy);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("random")]
    [InlineData("1")]
    [InlineData(" shared")]
    public void AnythingElseIsNotAStrategy(string? text) => Assert.False(TenantStrategies.TryParse(text, out _));

    [Fact]
    public void AnOmittedStrategyIsShared()
    {
        Assert.Equal(TenantStrategy.Shared, TenantStrategies.OfWritten(null));
        Assert.Equal(TenantStrategy.Dedicated, TenantStrategies.OfWritten("dedicated"));
    }

    [Theory]
    [InlineData(TenantStrategy.Shared, "shared")]
    [InlineData(TenantStrategy.Dedicated, "dedicated")]
    [InlineData(TenantStrategy.Hybrid, "hybrid")]
    public void EachStrategyHasOneNameInCodeAndInJson(TenantStrategy strategy, string name)
    {
        Assert.Equal(name, TenantStrategies.Name(strategy));

        // Without any enum converter in the options (the tenancy change log's diff uses plain web defaults), and both ways.
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Assert.Equal($"\"{name}\"", JsonSerializer.Serialize(strategy, options));
        Assert.Equal(strategy, JsonSerializer.Deserialize<TenantStrategy>($"\"{name}\"", options));
    }
}
