using BenchmarkDotNet.Running;

namespace Quota.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project tests/Quota.Benchmarks -- --filter '*'</c> runs the BenchmarkDotNet suites;
/// <c>… -- decisions --gateway HOST:PORT --http URL</c> drives a running silo (see run-decisions.sh);
/// <c>… -- compare …</c> measures Quota against Redis, PostgreSQL and System.Threading.RateLimiting (see run-compare.sh);
/// <c>… -- redis-front --redis HOST:PORT --urls URL</c> serves the minimal ASP.NET Core + Redis + Lua peer of Quota's HTTP front door;
/// <c>… -- inbound --targets name=URL,…</c> drives the sample web API with each limiter (see run-inbound.sh);
/// <c>… -- borrow …</c> measures what on-demand borrowing costs (run-borrow.sh);
/// <c>… -- rls --http URL --rls URL</c> measures Envoy's ShouldRateLimit against the same decision over HTTP (run-rls.sh);
/// <c>… -- queues --gateway HOST:PORT --http URL</c> measures queues: throughput, dispatch accuracy, plan against drain (run-queues.sh);
/// <c>… -- memory --subjects N,M</c> measures heap bytes per idle subject grain (see run-memory.sh);
/// <c>… -- membership …</c> runs silos joining, leaving, restarting and dying under load (run-membership.sh);
/// <c>… -- overload …</c> and <c>… -- stop …</c> measure shedding and the graceful stop over HTTP (run-overload.sh, run-stop.sh).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "decisions")
        {
            return await DecisionLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "compare")
        {
            return await Compare.CompareLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] is "overload" or "stop")
        {
            return await OverloadLoad.RunAsync(args);
        }

        if (args.Length > 0 && args[0] == "redis-front")
        {
            return await Compare.RedisFront.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "inbound")
        {
            return await InboundLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "borrow")
        {
            return await BorrowLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "membership")
        {
            return await Membership.MembershipLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "rls")
        {
            return await RlsLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "queues")
        {
            return await QueueLoad.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "memory")
        {
            return await MemoryLoad.RunAsync(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
