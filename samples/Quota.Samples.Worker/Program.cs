using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quota.Client;
using Quota.Outbound;
using Quota.Samples.Worker;

// A worker calling a rate-limited upstream through Quota: every request takes a permit of its tenant, the token Quota
// chooses and its credential, and Quota hears what the upstream answered.
//   dotnet run --project samples/Quota.Samples.Worker -- --Quota:Client:Gateways:0=127.0.0.1:30000 --Worker:Apply=http://127.0.0.1:8080
var builder = Host.CreateApplicationBuilder(args);
builder.AddQuotaClient();
var options = builder.Configuration.GetSection(WorkerOptions.SectionName).Get<WorkerOptions>() ?? new WorkerOptions();
options.Validate();
builder.Services.AddSingleton(options);
builder.Services.AddSingleton<UpstreamAddress>();
foreach (var tenant in options.Tenants)
{
    // One client per tenant; Quota:Outbound:{client name} in configuration can override any option set here.
    builder.Services.AddHttpClient(WorkerOptions.ClientName(tenant), (services, client) => client.BaseAddress = services.GetRequiredService<UpstreamAddress>().Value)
        .AddQuotaUpstream(options.Upstream, quota =>
        {
            quota.Tenant = tenant;
            quota.MaxWait = options.MaxWait;
        });
}

builder.Services.AddHostedService<CallingWorker>();
await builder.Build().RunAsync();
