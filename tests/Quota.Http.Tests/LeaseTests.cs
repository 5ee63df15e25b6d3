using System.Buffers.Text;
using System.Net;
using System.Text;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>Reservations settled with their actual cost; concurrency leases released.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class LeaseTests(ConfiguredSilo host) : HostTest(host)
{
    [Fact]
    public async Task Settling_below_the_reservation_refunds_exactly_the_difference()
    {
        var burst = NewBurst();
        var reserved = (await Api.Acquire(new { resources = new[] { burst }, cost = 3, reserve = true })).Expect(HttpStatusCode.OK);
        var leaseId = reserved.Json["leaseId"]!.GetValue<string>();
        Assert.False(string.IsNullOrEmpty(leaseId));
        Assert.Equal(0, reserved.Json["remaining"]!.GetValue<long>());
        Assert.Equal(0, await Api.Remaining("resource", burst, BurstPolicy));

        var settled = (await Api.Settle(new { leaseId, actualCost = 1 })).Expect(HttpStatusCode.OK);

        Assert.Equal("application/json", settled.MediaType);
        Assert.Equal(["leaseId", "settled"], settled.Json.Select(p => p.Key).Order());
        Assert.Equal(leaseId, settled.Json["leaseId"]!.GetValue<string>());
        Assert.True(settled.Json["settled"]!.GetValue<bool>());
        Assert.Equal(2, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Settling_twice_is_a_404_on_leaseId_and_changes_nothing()
    {
        var burst = NewBurst();
        var leaseId = (await Api.Acquire(new { resources = new[] { burst }, cost = 2, reserve = true })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();
        (await Api.Settle(new { leaseId, actualCost = 0 })).Expect(HttpStatusCode.OK);
        Assert.Equal(3, await Api.Remaining("resource", burst, BurstPolicy));

        (await Api.Settle(new { leaseId, actualCost = 0 })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        (await Api.Release(new { leaseId })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        Assert.Equal(3, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Settling_above_the_reservation_takes_the_top_up()
    {
        var burst = NewBurst();
        var leaseId = (await Api.Acquire(new { resources = new[] { burst }, cost = 1, reserve = true })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();
        Assert.Equal(2, await Api.Remaining("resource", burst, BurstPolicy));

        (await Api.Settle(new { leaseId, actualCost = 3 })).Expect(HttpStatusCode.OK);

        Assert.Equal(0, await Api.Remaining("resource", burst, BurstPolicy));
        (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task Releasing_a_reservation_keeps_its_estimate()
    {
        var burst = NewBurst();
        var leaseId = (await Api.Acquire(new { resources = new[] { burst }, cost = 2, reserve = true })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();

        var released = (await Api.Release(new { leaseId })).Expect(HttpStatusCode.OK);

        Assert.True(released.Json["released"]!.GetValue<bool>());
        Assert.Equal(1, await Api.Remaining("resource", burst, BurstPolicy));
        (await Api.Settle(new { leaseId, actualCost = 0 })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
    }

    [Fact]
    public async Task Acquire_without_reserve_on_a_window_has_no_lease()
    {
        var reply = (await Api.Acquire(new { resources = new[] { NewBurst() } })).Expect(HttpStatusCode.OK);

        Assert.Null(reply.Json["leaseId"]);
    }

    [Fact]
    public async Task Releasing_a_concurrency_lease_frees_the_permit_once()
    {
        var slots = NewSlots();
        var leaseId = (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();
        (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.TooManyRequests);
        Assert.Equal(0, await Api.Remaining("resource", slots, SlotPolicy));

        (await Api.Release(new { leaseId })).Expect(HttpStatusCode.OK);
        Assert.Equal(1, await Api.Remaining("resource", slots, SlotPolicy));
        (await Api.Release(new { leaseId })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");

        var again = (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK);
        Assert.Equal(0, again.Json["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Settling_a_concurrency_lease_frees_the_permit()
    {
        var slots = NewSlots();
        var leaseId = (await Api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();

        (await Api.Settle(new { leaseId, actualCost = 1 })).Expect(HttpStatusCode.OK);

        Assert.Equal(1, await Api.Remaining("resource", slots, SlotPolicy));
    }

    [Fact]
    public async Task Lease_spanning_two_resources_is_settled_on_both()
    {
        var burst = NewBurst();
        var slots = NewSlots();
        var leaseId = (await Api.Acquire(new { resources = new[] { burst, slots }, cost = 1, reserve = true })).Expect(HttpStatusCode.OK).Json["leaseId"]!.GetValue<string>();
        Assert.Equal(2, await Api.Remaining("resource", burst, BurstPolicy));
        Assert.Equal(0, await Api.Remaining("resource", slots, SlotPolicy));

        (await Api.Settle(new { leaseId, actualCost = 0 })).Expect(HttpStatusCode.OK);

        Assert.Equal(3, await Api.Remaining("resource", burst, BurstPolicy));
        Assert.Equal(1, await Api.Remaining("resource", slots, SlotPolicy));
    }

    [Fact]
    public async Task Well_formed_lease_id_that_was_never_issued_is_a_404()
    {
        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.OK);
        var forged = $"{Guid.NewGuid():N}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"resource:{burst}"))}";

        (await Api.Settle(new { leaseId = forged, actualCost = 0 })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        (await Api.Release(new { leaseId = forged })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        Assert.Equal(2, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Theory]
    [InlineData("not-a-lease")]
    [InlineData("0123456789ABCDEF0123456789ABCDEF.cmVzb3VyY2U6c2xvdHM")] // upper-case nonce
    [InlineData("0123456789abcdef0123456789abcdef")] // no holders
    [InlineData("0123456789abcdef0123456789abcdef.")] // empty holders
    [InlineData("0123456789abcdef0123456789abcdef.Ym9ndXM6eA")] // "bogus:x": not a kind of subject
    public async Task Malformed_lease_ids_are_a_400_on_leaseId(string leaseId)
    {
        (await Api.Settle(new { leaseId, actualCost = 1 })).ExpectProblem(HttpStatusCode.BadRequest, "leaseId");
        (await Api.Release(new { leaseId })).ExpectProblem(HttpStatusCode.BadRequest, "leaseId");
    }
}
