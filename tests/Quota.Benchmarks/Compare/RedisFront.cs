using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Quota.Benchmarks.Compare;

/// <summary>
/// The peer Quota's HTTP front door is measured against (issue 23): a minimal ASP.NET Core service in front of Redis
/// and a Lua script, what a team writes when it puts a Redis limiter behind HTTP. <c>POST /v1/acquire</c> takes the
/// same JSON body as Quota's (<c>{"user":…,"resources":[…]}</c>), runs one EVALSHA over every key it names and answers
/// <c>200 {"allowed":true}</c> or <c>429 {"allowed":false}</c>. Throughput keys use Compare/gcra.lua with the
/// throughput limit (the faster of the two scripts); the accuracy resources (<c>bench-acc:*</c>) Compare/sliding-log.lua
/// with the accuracy limit, an exact limit a run can check. Kestrel's defaults, the slim builder, source-generated JSON,
/// no logging: the least such a service does. Run as its own process (run-compare.sh starts it), like the silo.
/// </summary>
internal static partial class RedisFront
{
    /// <summary><c>redis-front --redis HOST:PORT --urls URL [--limit N] [--accuracy-limit N]</c>.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var options = new Dictionary<string, string>
        {
            ["limit"] = "1000000000",
            ["accuracy-limit"] = "2000",
        };
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            options[args[i].TrimStart('-')] = args[i + 1];
        }

        if (!options.TryGetValue("redis", out var endpoint) || !options.TryGetValue("urls", out var urls))
        {
            Console.Error.WriteLine("usage: redis-front --redis HOST:PORT --urls http://127.0.0.1:PORT [--limit N] [--accuracy-limit N]");
            return 2;
        }

        var redis = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { endpoint }, AbortOnConnectFail = true });
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var gcra = await server.ScriptLoadAsync(await ScriptAsync("gcra.lua"));
        var log = await server.ScriptLoadAsync(await ScriptAsync("sliding-log.lua"));
        var database = redis.GetDatabase();
        var limit = long.Parse(options["limit"], CultureInfo.InvariantCulture);
        var accuracyLimit = long.Parse(options["accuracy-limit"], CultureInfo.InvariantCulture);
        var interval = TimeSpan.FromMinutes(1).Ticks / 10.0 / limit;
        var hourMicros = (long)(TimeSpan.FromHours(1).Ticks / 10);
        var prefix = "front:" + Guid.NewGuid().ToString("N")[..8] + ":";
        long members = 0;

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(urls);
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.MapPost("/v1/acquire", async (HttpContext context) =>
        {
            var body = await JsonSerializer.DeserializeAsync(context.Request.Body, FrontJson.Default.FrontRequest, context.RequestAborted);
            if (body is null || (body.User is null && body.Resources is not { Length: > 0 }))
            {
                return Results.BadRequest();
            }

            var names = body.User is null ? body.Resources! : [body.User, .. body.Resources ?? []];
            var keys = new RedisKey[names.Length];
            for (var i = 0; i < names.Length; i++)
            {
                keys[i] = prefix + names[i];
            }

            RedisValue[] values;
            byte[] script;
            if (names[0].StartsWith("bench-acc:", StringComparison.Ordinal))
            {
                script = log;
                values = new RedisValue[1 + 2 * keys.Length];
                values[0] = Interlocked.Increment(ref members);
                for (var i = 0; i < keys.Length; i++)
                {
                    values[1 + 2 * i] = accuracyLimit;
                    values[2 + 2 * i] = hourMicros;
                }
            }
            else
            {
                script = gcra;
                values = new RedisValue[2 * keys.Length];
                for (var i = 0; i < keys.Length; i++)
                {
                    values[2 * i] = interval;
                    values[2 * i + 1] = limit;
                }
            }

            var result = (RedisResult[])(await database.ScriptEvaluateAsync(script, keys, values))!;
            var allowed = (long)result[0] == 1;
            return Results.Json(new FrontAnswer(allowed), FrontJson.Default.FrontAnswer, statusCode: allowed ? 200 : 429);
        });
        app.MapGet("/healthz", () => "ok");
        await app.RunAsync();
        return 0;
    }

    private static async Task<string> ScriptAsync(string name)
    {
        await using var stream = typeof(RedisFront).Assembly.GetManifestResourceStream($"Quota.Benchmarks.Compare.{name}")
            ?? throw new InvalidOperationException($"The script {name} is not embedded in the benchmark assembly.");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}

/// <summary>The request body the front reads: the same fields as Quota's, and only those the comparison sends.</summary>
internal sealed record FrontRequest(string? User, string[]? Resources);

/// <summary>The front's answer.</summary>
internal sealed record FrontAnswer(bool Allowed);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(FrontRequest))]
[JsonSerializable(typeof(FrontAnswer))]
internal sealed partial class FrontJson : JsonSerializerContext;
