using System.Text;
using Quota.Abstractions;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Grains.Tests.Storage;

/// <summary>Persisted state is plain JSON named by properties only: renaming a state class orphans nothing.</summary>
public sealed class JsonGrainStateSerializerTests
{
    private readonly JsonGrainStateSerializer _serializer = new();

    [Fact]
    public void State_is_written_without_type_names()
    {
        var state = new SubjectConfigState
        {
            Owner = "alice",
            Policies = [new PolicySpec { Name = "daily", Algorithm = "calendar", Limit = 1000, Period = "day", TimeZone = "UTC" }],
        };

        var json = Encoding.UTF8.GetString(_serializer.Serialize(state).ToArray());

        Assert.Equal("""{"policies":[{"name":"daily","algorithm":"calendar","limit":1000,"period":"day","timeZone":"UTC"}],"owner":"alice"}""", json);
        Assert.DoesNotContain("SubjectConfigState", json, StringComparison.Ordinal);
        Assert.DoesNotContain("$type", json, StringComparison.Ordinal);
    }

    [Fact]
    public void What_one_class_wrote_reads_into_a_renamed_class_of_the_same_shape()
    {
        var written = new UsageCheckpointState();
        written.Counters["daily"] = new CounterCheckpoint(638_000_000_000_000_000, 417);

        var read = _serializer.Deserialize<RenamedCheckpoint>(_serializer.Serialize(written));

        Assert.Equal(417, read.Counters["daily"].Claimed);
        Assert.Equal(638_000_000_000_000_000, read.Counters["daily"].PeriodStartTicks);
    }

    [Fact]
    public void A_round_trip_keeps_every_counter()
    {
        var written = new UsageCheckpointState();
        written.Counters["daily"] = new CounterCheckpoint(1, 2);
        written.Counters["monthly"] = new CounterCheckpoint(3, 4);

        var read = _serializer.Deserialize<UsageCheckpointState>(_serializer.Serialize(written));

        Assert.Equal(written.Counters, read.Counters);
    }

    public sealed class RenamedCheckpoint
    {
        public Dictionary<string, RenamedCounter> Counters { get; set; } = [];
    }

    public sealed record RenamedCounter(long PeriodStartTicks, long Claimed);
}
