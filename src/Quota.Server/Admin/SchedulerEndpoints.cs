using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Quota.Abstractions;
using Quota.Grains.Tenancy;
using Quota.Server.Http;

namespace Quota.Server.Admin;

/// <summary>
/// The scheduler part of the admin API under <c>/v1/admin/scheduler</c>: its status, a run on demand and the history of
/// the changes it made. What the scheduler decides is the scheduler grain's; these routes only ask and show.
/// </summary>
internal static class SchedulerEndpoints
{
    private const int DefaultHistory = 100;

    /// <summary>Maps the scheduler routes on the admin group (already behind the admin gate).</summary>
    public static void MapScheduler(this RouteGroupBuilder admin)
    {
        admin.MapGet("/scheduler", async (AdminService service) =>
            Results.Json(await service.SchedulerStatusAsync(), HttpJson.ResponseOptions)).Produces<SchedulerStatus>();

        // Runs whether or not the scheduler runs by itself (Quota:Scheduler:Enabled): the operator asked for it.
        admin.MapPost("/scheduler/run", async (AdminService service) =>
            Results.Json(await service.RunSchedulerAsync(), HttpJson.ResponseOptions)).Produces<SchedulerRun>();

        admin.MapGet("/scheduler/history", GetHistoryAsync).Produces<SchedulerHistory>();
    }

    /// <summary>
    /// The scheduler's changes, newest first. <c>limit</c> (1 to the history's capacity, default 100) is read here
    /// rather than bound, so a bad value is a problem naming it, as for the change log.
    /// </summary>
    private static async Task<IResult> GetHistoryAsync(AdminService service, string? limit, string? subject)
    {
        var count = DefaultHistory;
        return limit is not null
            && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > TenancyModel.HistoryCapacity)
            ? HttpJson.Problem(StatusCodes.Status400BadRequest, [new("limit", $"must be a whole number from 1 to {TenancyModel.HistoryCapacity} (got '{limit}'); the default is {DefaultHistory}.")])
            : Results.Json(new SchedulerHistory(await service.SchedulerHistoryAsync(count, subject)), HttpJson.ResponseOptions);
    }
}
