using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;

namespace Quota.Client;

/// <summary>Runs one item of a queue. Throwing fails the attempt (nack); returning completes it (ack).</summary>
/// <remarks>
/// Delivery is at least once: the same item (same <see cref="LeasedItem.Id"/>) can run again after a crash or a
/// visibility timeout, so a handler must be idempotent. An <see cref="HttpRequestException"/> with a 429 or 5xx status
/// reports that status as the upstream's, which also goes to the leased token's feedback.
/// </remarks>
public interface IQueueHandler
{
    /// <summary>Handles <paramref name="item"/>; <paramref name="cancellationToken"/> fires when the host stops or the lease's visibility ends.</summary>
    Task HandleAsync(LeasedItem item, CancellationToken cancellationToken);
}

/// <summary>How a queue worker runs (<see cref="QuotaWorkerServiceCollectionExtensions.AddQuotaWorker{THandler}"/>).</summary>
public sealed class QuotaWorkerOptions
{
    /// <summary>The most handlers running at once in this process; the queue's <c>desiredWorkers</c> decides below it. Default: 4.</summary>
    public int MaxConcurrency { get; set; } = 4;

    /// <summary>How long one lease waits for an item (1 ms to 20 s). Default: 5 seconds.</summary>
    public TimeSpan LeaseWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the queue's statistics (its <c>desiredWorkers</c>) are read. Default: 10 seconds.</summary>
    public TimeSpan StatsInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The worker's name in leases. Default: the machine's name and the process id.</summary>
    public string Worker { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Every problem with these options, each naming its setting; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (MaxConcurrency is < 1 or > QueueRules.MaxLease)
        {
            problems.Add($"MaxConcurrency must be from 1 to {QueueRules.MaxLease} (got {MaxConcurrency}).");
        }

        if (LeaseWait <= TimeSpan.Zero || LeaseWait.TotalMilliseconds > QueueRules.MaxLeaseWaitMs)
        {
            problems.Add($"LeaseWait must be more than 0 and at most {QueueRules.MaxLeaseWaitMs} ms (got {LeaseWait}).");
        }

        if (StatsInterval <= TimeSpan.Zero)
        {
            problems.Add($"StatsInterval must be more than 0 (got {StatsInterval}).");
        }

        if (!RequestRules.IsName(Worker))
        {
            problems.Add("Worker must be a name: 1 to 256 characters, no control characters, not only spaces.");
        }

        return problems;
    }
}

/// <summary>Adds queue workers to a host.</summary>
public static class QuotaWorkerServiceCollectionExtensions
{
    /// <summary>
    /// Runs <typeparamref name="THandler"/> (scoped: one per item) on the items of <paramref name="queue"/>: leases them,
    /// runs as many at once as the queue says are worth running (its <c>desiredWorkers</c>, at most
    /// <see cref="QuotaWorkerOptions.MaxConcurrency"/>), acks what returns and nacks what throws. Needs an
    /// <see cref="IQuotaClient"/> (<c>AddQuotaClient</c>).
    /// </summary>
    /// <exception cref="ArgumentException">The options are not usable; the message names every problem.</exception>
    public static IServiceCollection AddQuotaWorker<THandler>(this IServiceCollection services, string queue, Action<QuotaWorkerOptions>? configure = null)
        where THandler : class, IQueueHandler
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(queue);
        var options = new QuotaWorkerOptions();
        configure?.Invoke(options);
        if (options.Problems() is { Count: > 0 } problems)
        {
            throw new ArgumentException($"The worker for queue '{queue}' is misconfigured: {string.Join(" ", problems)}", nameof(configure));
        }

        services.AddScoped<THandler>();
        services.AddSingleton<IHostedService>(provider => new QuotaWorker<THandler>(
            provider.GetRequiredService<IQuotaClient>().Queue(queue),
            provider.GetRequiredService<IServiceScopeFactory>(),
            options,
            provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetRequiredService<ILogger<QuotaWorker<THandler>>>()));
        return services;
    }
}

/// <summary>The loop behind <see cref="QuotaWorkerServiceCollectionExtensions.AddQuotaWorker{THandler}"/>.</summary>
/// <typeparam name="THandler">The item handler.</typeparam>
public sealed partial class QuotaWorker<THandler>(
    IQuotaQueue queue,
    IServiceScopeFactory scopes,
    QuotaWorkerOptions options,
    TimeProvider time,
    ILogger<QuotaWorker<THandler>> logger) : BackgroundService
    where THandler : class, IQueueHandler
{
    /// <summary>Handlers running at most at once now: the queue's desired workers, within 1 and the maximum.</summary>
    public int Concurrency { get; private set; } = 1;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var running = new HashSet<Task>();
        var nextStats = DateTimeOffset.MinValue;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                running.RemoveWhere(t => t.IsCompleted);
                try
                {
                    if (time.GetUtcNow() >= nextStats)
                    {
                        var stats = await queue.GetStatsAsync(stoppingToken);
                        Concurrency = Math.Clamp(stats?.DesiredWorkers ?? 1, 1, options.MaxConcurrency);
                        nextStats = time.GetUtcNow() + options.StatsInterval;
                    }

                    if (running.Count >= Concurrency)
                    {
                        await Task.WhenAny(running);
                        continue;
                    }

                    var answer = await queue.LeaseAsync(options.Worker, Concurrency - running.Count, options.LeaseWait, stoppingToken);
                    if (answer.Outcome == QueueOutcome.UnknownQueue)
                    {
                        LogUnknownQueue(logger, queue.Name);
                        await Task.Delay(options.StatsInterval, time, stoppingToken);
                        continue;
                    }

                    foreach (var item in answer.Items)
                    {
                        running.Add(RunAsync(item, stoppingToken));
                    }
                }
                catch (QuotaUnavailableException e)
                {
                    LogUnavailable(logger, e, queue.Name);
                    await Task.Delay(e.RetryAfter, time, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the handlers running see the same token; their items return after their visibility timeout.
        }

        await Task.WhenAll(running);
    }

    private async Task RunAsync(LeasedItem item, CancellationToken stoppingToken)
    {
        // Off the loop's thread: a handler that blocks before its first await does not hold up leasing.
        await Task.Yield();
        using var visible = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        visible.CancelAfter(TimeSpan.FromMilliseconds(Math.Max(1, item.VisibleForMs)));
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<THandler>().HandleAsync(item, visible.Token);
            await queue.AckAsync(item.LeaseId, CancellationToken.None);
        }
        catch (OperationCanceledException) when (visible.IsCancellationRequested)
        {
            // Stopped, or past the lease's visibility: the item is handed out again either way.
            LogAbandoned(logger, queue.Name, item.Id);
        }
        catch (Exception e)
        {
            int? status = e is HttpRequestException { StatusCode: { } code } && ((int)code == 429 || (int)code >= 500) ? (int)code : null;
            try
            {
                await queue.NackAsync(new NackRequest { LeaseId = item.LeaseId, Error = $"{e.GetType().Name}: {e.Message}", UpstreamStatus = status }, CancellationToken.None);
            }
            catch (Exception nackFailed)
            {
                LogNackFailed(logger, nackFailed, queue.Name, item.Id);
            }
        }
    }
}
