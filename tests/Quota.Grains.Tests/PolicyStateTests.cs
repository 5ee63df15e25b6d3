using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;

namespace Quota.Grains.Tests;

/// <summary>A policy's algorithm travels as its enum and is written as its name only in JSON.</summary>
public sealed class PolicyStateTests
{
    public static TheoryData<AlgorithmKind, string> Names => new()
    {
        { AlgorithmKind.TokenBucket, "token-bucket" },
        { AlgorithmKind.SlidingWindow, "sliding-window" },
        { AlgorithmKind.SlidingLog, "sliding-log" },
        { AlgorithmKind.FixedWindow, "fixed-window" },
        { AlgorithmKind.Concurrency, "concurrency" },
        { AlgorithmKind.Calendar, "calendar" },
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void JsonWritesAndReadsTheAlgorithmsName(AlgorithmKind algorithm, string name)
    {
        // The HTTP answers' options turn other enums into camel case; the algorithm keeps its own spelling.
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) } };
        var state = new PolicyState { Subject = "user:alice", Policy = "p", Algorithm = algorithm, Limit = 10, Remaining = 4, WindowSeconds = 60, ResetAfterMs = 6_000 };

        var json = JsonSerializer.Serialize(state, options);

        Assert.Equal($"{{\"subject\":\"user:alice\",\"policy\":\"p\",\"algorithm\":\"{name}\",\"limit\":10,\"remaining\":4,\"windowSeconds\":60,\"resetAfterMs\":6000}}", json);
        Assert.Equal(state, JsonSerializer.Deserialize<PolicyState>(json, options));
    }

    [Fact]
    public void OrleansCarriesTheAlgorithm()
    {
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var state = new PolicyState { Subject = "resource:r", Policy = "slots", Algorithm = AlgorithmKind.Concurrency, Limit = 2, Remaining = 1, ResetAfterMs = 0 };

        Assert.Equal(state, serializer.Deserialize<PolicyState>(serializer.SerializeToArray(state)));
    }
}
