using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Npgsql;
using Quota.Grains.Configuration;
using Quota.Server.Admin;
using Quota.Server.Hosting;
using Quota.Testing;
using YamlDotNet.RepresentationModel;

namespace Quota.Http.Tests.Deployment;

/// <summary>
/// docker-compose.yml and deploy/Dockerfile checked against the code they configure. No Docker engine runs where the
/// tests run, so the files are read, not started: a renamed option, a changed default port, or a silo advertising
/// another silo's address fails here instead of in a cluster that never forms.
/// </summary>
public sealed partial class DeploymentFilesTests
{
    private const string DatabaseService = "postgres";
    private static readonly string[] SiloServices = ["silo1", "silo2", "silo3"];

    /// <summary>The options classes whose sections the silo binds; every <c>Quota__…</c> variable must name one of their properties.</summary>
    private static readonly Type[] OptionsClasses = [typeof(QuotaClusterOptions), typeof(QuotaStorageOptions), typeof(AdminOptions), typeof(SecretOptions), typeof(Quota.Server.Rls.RlsOptions)];

    /// <summary>Configuration keys the framework reads, not Quota's options classes.</summary>
    private static readonly string[] FrameworkKeys = ["urls", "ConnectionStrings:Quota"];

    /// <summary>
    /// Keys bound by a property this branch does not have yet, each with the property that binds it. Only
    /// Quota:Secrets:MasterKeys (list of base64 keys, newest first), bound by SecretOptions.MasterKeys, which the
    /// secrets work adds; once that property is here, reflection finds it and this entry is redundant.
    /// </summary>
    private static readonly string[] ListKeysNotYetReflected = ["Quota:Secrets:MasterKeys"];

    private static readonly string Root = SiloProcess.Build().Root;

    // Lazy, so a file that cannot be read fails the tests that read it, with its own message.
    private static readonly Lazy<ComposeFile> ComposeFromDisk = new(() => ComposeFile.Load(Path.Combine(Root, "docker-compose.yml")));
    private static readonly Lazy<DockerfileText> DockerfileFromDisk = new(() => DockerfileText.Load(Path.Combine(Root, "deploy", "Dockerfile")));

    private static ComposeFile Compose => ComposeFromDisk.Value;

    private static DockerfileText Dockerfile => DockerfileFromDisk.Value;

    private static int DefaultHttpPort => new Uri(QuotaSiloHostingExtensions.DefaultUrl).Port;

    [GeneratedRegex(@"^\$\{(?<name>[A-Z][A-Z0-9_]*):\?(?<message>[^}]+)\}$")]
    private static partial Regex RequiredVariable();

    // ---- docker-compose.yml ----

    [Fact]
    public void Compose_starts_postgres_and_three_silos()
    {
        var services = Compose.ServiceNames;

        Assert.Contains(DatabaseService, services);
        foreach (var silo in SiloServices)
        {
            Assert.Contains(silo, services);
        }

        Assert.Equal("postgres:15", ComposeFile.Scalar(Compose.Service(DatabaseService)["image"], "postgres image"));
    }

    [Fact]
    public void Every_silo_is_built_from_the_Dockerfile_and_waits_for_a_healthy_database()
    {
        var healthcheck = ComposeFile.Mapping(Compose.Service(DatabaseService), "healthcheck", DatabaseService);
        Assert.Contains("pg_isready", string.Join(' ', ComposeFile.Scalars(healthcheck["test"], "postgres healthcheck test")));

        foreach (var silo in SiloServices)
        {
            var service = Compose.Service(silo);
            var build = ComposeFile.Mapping(service, "build", silo);
            Assert.Equal(".", ComposeFile.Scalar(build["context"], $"{silo} build context"));
            Assert.Equal("deploy/Dockerfile", ComposeFile.Scalar(build["dockerfile"], $"{silo} build dockerfile"));

            var dependsOn = ComposeFile.Mapping(service, "depends_on", silo);
            Assert.True(dependsOn.ContainsKey(DatabaseService), $"{silo} should depend on {DatabaseService}.");
            var condition = ComposeFile.Mapping(dependsOn, DatabaseService, $"{silo} depends_on");
            Assert.Equal("service_healthy", ComposeFile.Scalar(condition["condition"], $"{silo} depends_on condition"));
        }
    }

    [Fact]
    public void Every_silo_stores_in_the_compose_postgres_as_its_database_user()
    {
        var database = Compose.Environment(DatabaseService);
        foreach (var silo in SiloServices)
        {
            var environment = Compose.Environment(silo);
            Assert.Equal("postgres", Value(environment, silo, QuotaStorageOptions.SectionName, nameof(QuotaStorageOptions.Provider)));

            Assert.True(environment.TryGetValue("ConnectionStrings__Quota", out var connectionString), $"{silo} has no ConnectionStrings__Quota.");
            var parsed = new NpgsqlConnectionStringBuilder(connectionString);
            Assert.Equal(DatabaseService, parsed.Host);
            Assert.Equal(5432, parsed.Port);
            Assert.Equal(database["POSTGRES_DB"], parsed.Database);
            Assert.Equal(database["POSTGRES_USER"], parsed.Username);
            Assert.Equal(
                RequiredVariableName(database["POSTGRES_PASSWORD"], "postgres POSTGRES_PASSWORD"),
                RequiredVariableName(parsed.Password ?? string.Empty, $"{silo} connection string Password"));
        }
    }

    [Fact]
    public void The_silos_form_one_cluster_on_the_default_ports()
    {
        var defaults = new QuotaClusterOptions();
        string Cluster(string silo, string property) => Value(Compose.Environment(silo), silo, QuotaClusterOptions.SectionName, property);

        var clusterIds = SiloServices.Select(silo => Cluster(silo, nameof(QuotaClusterOptions.ClusterId))).Distinct().ToArray();
        var serviceIds = SiloServices.Select(silo => Cluster(silo, nameof(QuotaClusterOptions.ServiceId))).Distinct().ToArray();
        Assert.True(clusterIds is [{ Length: > 0 }], $"The silos should share one ClusterId; they use {string.Join(", ", clusterIds)}.");
        Assert.True(serviceIds is [{ Length: > 0 }], $"The silos should share one ServiceId; they use {string.Join(", ", serviceIds)}.");

        // The image EXPOSEs the defaults (checked below); a silo on other ports would listen where nothing is declared.
        foreach (var silo in SiloServices)
        {
            Assert.Equal(defaults.SiloPort.ToString(CultureInfo.InvariantCulture), Cluster(silo, nameof(QuotaClusterOptions.SiloPort)));
            Assert.Equal(defaults.GatewayPort.ToString(CultureInfo.InvariantCulture), Cluster(silo, nameof(QuotaClusterOptions.GatewayPort)));
        }
    }

    [Fact]
    public void Every_silo_advertises_its_own_static_address_in_the_declared_subnet()
    {
        var advertised = new Dictionary<string, string>();
        foreach (var silo in SiloServices)
        {
            var networks = ComposeFile.Mapping(Compose.Service(silo), "networks", silo);
            var (networkName, attachment) = Assert.Single(networks);
            var address = ComposeFile.Scalar(ComposeFile.Merge(Assert.IsType<YamlMappingNode>(attachment))["ipv4_address"], $"{silo} ipv4_address");

            var (subnet, dynamicRange) = Subnet(networkName);
            Assert.True(subnet.Contains(IPAddress.Parse(address)), $"{silo}'s address {address} is outside the network's subnet {subnet}.");
            Assert.False(
                dynamicRange?.Contains(IPAddress.Parse(address)) ?? false,
                $"{silo}'s address {address} lies in ip_range {dynamicRange}, from which Docker hands addresses to other containers.");
            Assert.Contains(networkName, NetworksOf(DatabaseService));

            var environment = Compose.Environment(silo);
            Assert.Equal(address, Value(environment, silo, QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.AdvertisedAddress)));
            Assert.Equal("0.0.0.0", Value(environment, silo, QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.ListenAddress)));
            advertised[silo] = address;
        }

        Assert.True(
            advertised.Values.Distinct().Count() == SiloServices.Length,
            $"Each silo must advertise its own address; they advertise {string.Join(", ", advertised.Select(pair => $"{pair.Key}={pair.Value}"))}.");
    }

    [Fact]
    public void Every_silo_serves_HTTP_on_all_interfaces_at_the_default_port()
    {
        foreach (var silo in SiloServices)
        {
            Assert.True(Compose.Environment(silo).TryGetValue("urls", out var urls), $"{silo} has no urls.");
            var uri = new Uri(urls);
            Assert.Equal("0.0.0.0", uri.Host);
            Assert.Equal(DefaultHttpPort, uri.Port);

            // The health check asks the readiness probe on that port; another port would leave the silo "unhealthy".
            var probe = string.Join(' ', ComposeFile.Scalars(ComposeFile.Mapping(Compose.Service(silo), "healthcheck", silo)["test"], $"{silo} healthcheck test"));
            Assert.Contains($"/dev/tcp/127.0.0.1/{uri.Port} ", probe, StringComparison.Ordinal);
            Assert.Contains("GET /readyz ", probe, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Silo1_publishes_HTTP_and_the_gateway_on_loopback_and_nothing_is_published_wider()
    {
        var gateway = int.Parse(Value(Compose.Environment("silo1"), "silo1", QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.GatewayPort)), CultureInfo.InvariantCulture);
        var published = Ports("silo1");
        Assert.Contains(published, port => port.Container == DefaultHttpPort);
        Assert.Contains(published, port => port.Container == gateway);

        // The database has no business outside the network, and the silos' admin API is only token-guarded.
        foreach (var service in Compose.ServiceNames)
        {
            foreach (var port in Ports(service))
            {
                Assert.True(port.HostIp == "127.0.0.1", $"{service} publishes '{port.Spec}' beyond loopback; write 127.0.0.1:HOST:CONTAINER.");
            }
        }
    }

    [Fact]
    public void Every_silo_variable_names_a_configuration_key_the_silo_reads()
    {
        var problems = new List<string>();
        foreach (var silo in SiloServices)
        {
            foreach (var (name, value) in Compose.Environment(silo))
            {
                if (ConfigurationProblem(name, value) is { } problem)
                {
                    problems.Add($"{silo}: {problem}");
                }
            }
        }

        foreach (var (name, value) in Dockerfile.Stages[^1].Environment().Where(pair => pair.Key.StartsWith("Quota__", StringComparison.Ordinal)))
        {
            if (ConfigurationProblem(name, value) is { } problem)
            {
                problems.Add($"deploy/Dockerfile: {problem}");
            }
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems.Distinct()));
    }

    [Fact]
    public void Secrets_come_from_the_environment_and_are_never_written_in_the_file()
    {
        // Each secret by what it is → the variable that must carry it (one per secret, the same on every silo).
        var variables = new Dictionary<string, HashSet<string>>();
        void Secret(string what, string value, string where) =>
            (variables.TryGetValue(what, out var names) ? names : variables[what] = []).Add(RequiredVariableName(value, where));

        Secret("database password", Compose.Environment(DatabaseService)["POSTGRES_PASSWORD"], "postgres POSTGRES_PASSWORD");
        foreach (var silo in SiloServices)
        {
            var environment = Compose.Environment(silo);
            Secret("database password", new NpgsqlConnectionStringBuilder(environment["ConnectionStrings__Quota"]).Password ?? string.Empty, $"{silo} connection string Password");
            Secret("master key", Value(environment, silo, SecretOptions.SectionName, "MasterKeys__0"), $"{silo} Quota__Secrets__MasterKeys__0");
            Secret("pepper", Value(environment, silo, SecretOptions.SectionName, nameof(SecretOptions.Pepper)), $"{silo} Quota__Secrets__Pepper");
            Secret("admin token", Value(environment, silo, AdminOptions.SectionName, nameof(AdminOptions.Token)), $"{silo} Quota__Admin__Token");

            // Nothing else under the secrets section may slip in as a literal.
            foreach (var (name, value) in environment.Where(pair => pair.Key.StartsWith("Quota__Secrets__", StringComparison.OrdinalIgnoreCase)))
            {
                RequiredVariableName(value, $"{silo} {name}");
            }
        }

        foreach (var (what, names) in variables)
        {
            Assert.True(names.Count == 1, $"The {what} should come from one variable; the file uses {string.Join(", ", names)}.");
        }

        var all = variables.Values.Select(names => names.Single()).ToArray();
        Assert.True(all.Distinct().Count() == all.Length, $"Each secret needs its own variable; the file uses {string.Join(", ", all)}.");
    }

    [Fact]
    public void Every_environment_entry_carries_a_comment()
    {
        var entries = Compose.EnvironmentEntriesAsWritten();
        Assert.NotEmpty(entries);
        var uncommented = new List<string>();
        foreach (var (name, key, value) in entries)
        {
            // Marks count lines and columns from 1.
            var lineNumber = (int)key.Start.Line;
            var line = Compose.Lines[lineNumber - 1];
            var valueEnd = (int)value.End.Column - 1;
            var trailing = value.End.Line == lineNumber && valueEnd <= line.Length ? line[valueEnd..] : string.Empty;
            var before = lineNumber >= 2 ? Compose.Lines[lineNumber - 2].Trim() : string.Empty;
            if (!trailing.Contains('#', StringComparison.Ordinal) && !before.StartsWith('#'))
            {
                uncommented.Add($"line {lineNumber}: {name}");
            }
        }

        Assert.True(uncommented.Count == 0, $"Say what each variable is in a comment on the line before or after the value:{Environment.NewLine}{string.Join(Environment.NewLine, uncommented)}");
    }

    // ---- deploy/Dockerfile ----

    [Fact]
    public void The_image_builds_on_the_SDK_and_runs_on_the_ASP_NET_runtime()
    {
        Assert.Collection(
            Dockerfile.Stages,
            build => Assert.Equal("mcr.microsoft.com/dotnet/sdk:10.0", build.Image),
            runtime => Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", runtime.Image));
    }

    [Fact]
    public void The_build_stage_restores_with_the_central_build_files_and_every_project_the_silo_needs()
    {
        var build = Dockerfile.Stages[0];
        var restore = IndexOf(build, "RUN", "dotnet restore silo/Quota.Silo.csproj");
        var copiedBeforeRestore = build.Instructions.Take(restore)
            .Where(instruction => instruction.Keyword == "COPY")
            .SelectMany(copy => copy.CopyParts().Sources)
            .ToHashSet(StringComparer.Ordinal);

        // A project missing here is restored without its packages, and publish --no-restore then fails in the image.
        var needed = new[] { "global.json", "Directory.Build.props", "Directory.Packages.props", "src/BannedSymbols.txt" }
            .Concat(ProjectClosure("silo/Quota.Silo.csproj"));
        foreach (var file in needed)
        {
            Assert.True(copiedBeforeRestore.Contains(file), $"deploy/Dockerfile should COPY {file} before restoring; it copies {string.Join(", ", copiedBeforeRestore)}.");
        }
    }

    [Fact]
    public void The_build_stage_publishes_the_silo_in_Release_and_the_runtime_stage_runs_it()
    {
        var build = Dockerfile.Stages[0];
        var publish = build.Instructions[IndexOf(build, "RUN", "dotnet publish silo/Quota.Silo.csproj")];
        var words = DockerfileText.Words(publish.Arguments);
        Assert.Equal("Release", After(words, "-c", "--configuration"));
        var output = After(words, "-o", "--output");

        var runtime = Dockerfile.Stages[1];
        var copy = Assert.Single(runtime.All("COPY")).CopyParts();
        Assert.Contains($"--from={build.Name}", copy.Flags);
        Assert.Equal(new[] { output }, copy.Sources);

        // The entrypoint names the dll relative to the working directory, so the published files must land there.
        var workdir = Assert.Single(runtime.All("WORKDIR")).Arguments;
        Assert.True(copy.Destination is "." or "./" || copy.Destination.TrimEnd('/') == workdir.TrimEnd('/'), $"The published files go to {copy.Destination}, not the working directory {workdir}.");

        var assemblyName = XDocument.Load(Path.Combine(Root, "silo", "Quota.Silo.csproj")).Descendants("AssemblyName").Single().Value;
        Assert.Equal(new[] { "dotnet", $"{assemblyName}.dll" }, Assert.Single(runtime.All("ENTRYPOINT")).ExecForm());
    }

    [Fact]
    public void The_image_exposes_the_default_HTTP_rate_limit_silo_and_gateway_ports()
    {
        var defaults = new QuotaClusterOptions();
        var rlsPort = new Uri(Dockerfile.Stages[^1].Environment()["Quota__Rls__Url"]).Port;
        var exposed = Dockerfile.Stages[^1].All("EXPOSE")
            .SelectMany(expose => DockerfileText.Words(expose.Arguments))
            .Select(port => int.Parse(port.Split('/')[0], CultureInfo.InvariantCulture))
            .Order()
            .ToArray();

        Assert.Equal(new[] { DefaultHttpPort, rlsPort, defaults.SiloPort, defaults.GatewayPort }.Order().ToArray(), exposed);
    }

    [Fact]
    public void The_image_listens_on_all_interfaces_by_default()
    {
        var environment = Dockerfile.Stages[^1].Environment();

        var urls = new Uri(environment["urls"]);
        Assert.Equal("0.0.0.0", urls.Host);
        Assert.Equal(DefaultHttpPort, urls.Port);
        Assert.Equal("0.0.0.0", environment["Quota__Cluster__ListenAddress"]);
    }

    [Fact]
    public void The_image_runs_as_a_non_root_user()
    {
        var user = Dockerfile.Stages[^1].All("USER").LastOrDefault();

        Assert.NotNull(user);
        var name = user.Arguments.Split(':')[0];
        Assert.False(name is "root" or "0" or "", $"The runtime stage's USER is '{user.Arguments}'.");
    }

    [Fact]
    public void The_build_context_leaves_out_build_output_and_git()
    {
        var ignored = File.ReadAllLines(Path.Combine(Root, ".dockerignore"))
            .Select(line => line.Trim().TrimEnd('/'))
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToHashSet(StringComparer.Ordinal);

        foreach (var pattern in new[] { "**/bin", "**/obj", ".git", ".env" })
        {
            Assert.Contains(pattern, ignored);
        }
    }

    // ---- helpers ----

    /// <summary>
    /// Null when <paramref name="name"/> (environment form, <c>__</c> for <c>:</c>) is a key the silo reads and
    /// <paramref name="value"/> converts to its type; otherwise what is wrong.
    /// </summary>
    private static string? ConfigurationProblem(string name, string value)
    {
        var key = name.Replace("__", ":", StringComparison.Ordinal);
        if (FrameworkKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
        {
            return null;
        }

        var match = OptionsClasses
            .Select(type => (Type: type, Section: (string)type.GetField("SectionName")!.GetRawConstantValue()!))
            .FirstOrDefault(candidate => key.StartsWith(candidate.Section + ":", StringComparison.OrdinalIgnoreCase));
        if (match.Type is null)
        {
            return $"{name}: no options class binds it (sections: {string.Join(", ", OptionsClasses.Select(type => type.GetField("SectionName")!.GetRawConstantValue()))}; framework keys: {string.Join(", ", FrameworkKeys)}).";
        }

        var path = key[(match.Section.Length + 1)..].Split(':');
        var property = match.Type.GetProperty(path[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        var isIndexed = path.Length == 2 && int.TryParse(path[1], NumberStyles.None, CultureInfo.InvariantCulture, out _);
        if (property is null)
        {
            return isIndexed && ListKeysNotYetReflected.Contains($"{match.Section}:{path[0]}", StringComparer.OrdinalIgnoreCase)
                ? null
                : $"{name}: {match.Type.Name} has no property {path[0]}.";
        }

        var settable = property.SetMethod is { IsPublic: true };
        if (path.Length == 1)
        {
            if (!settable)
            {
                return $"{name}: {match.Type.Name}.{property.Name} has no public setter.";
            }

            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            return type == typeof(string) || TypeDescriptor.GetConverter(type).IsValid(value)
                ? null
                : $"{name}: '{value}' is not a {type.Name} ({match.Type.Name}.{property.Name}).";
        }

        // The binder fills a list through a setter or, for a get-only list with an initial value, in place (not an
        // array: it cannot grow).
        var isList = property.PropertyType != typeof(string) && typeof(IList).IsAssignableFrom(property.PropertyType);
        var bindable = settable || (property.GetMethod is { IsPublic: true } && !property.PropertyType.IsArray);
        return isIndexed && isList && bindable ? null : $"{name}: {match.Type.Name}.{property.Name} is not a public list to index.";
    }

    /// <summary>The variable named by a required interpolation (<c>${NAME:?message}</c>); fails on a literal.</summary>
    private static string RequiredVariableName(string value, string where)
    {
        var match = RequiredVariable().Match(value);
        Assert.True(match.Success, $"{where} should be '${{VARIABLE:?how to set it}}' so no secret is committed and nothing starts without it; it is written differently.");
        return match.Groups["name"].Value;
    }

    /// <summary>A silo's value for <paramref name="section"/>:<paramref name="property"/>, looked up in environment form.</summary>
    private static string Value(IReadOnlyDictionary<string, string> environment, string service, string section, string property)
    {
        var name = $"{section.Replace(":", "__", StringComparison.Ordinal)}__{property}";
        Assert.True(environment.TryGetValue(name, out var value), $"{service} has no {name}.");
        return value;
    }

    private static (IPNetwork Subnet, IPNetwork? DynamicRange) Subnet(string network)
    {
        var declared = ComposeFile.Mapping(ComposeFile.Mapping(Compose.Top, "networks", "the file"), network, "networks");
        var ipam = ComposeFile.Mapping(declared, "ipam", $"network {network}");
        var config = Assert.Single(Assert.IsType<YamlSequenceNode>(ipam["config"]).Children);
        var entries = ComposeFile.Merge(Assert.IsType<YamlMappingNode>(config));
        var subnet = IPNetwork.Parse(ComposeFile.Scalar(entries["subnet"], $"network {network} subnet"));
        IPNetwork? range = entries.TryGetValue("ip_range", out var node) ? IPNetwork.Parse(ComposeFile.Scalar(node, $"network {network} ip_range")) : null;
        return (subnet, range);
    }

    private static IReadOnlyCollection<string> NetworksOf(string service)
    {
        var networks = Compose.Service(service)["networks"];
        return networks is YamlSequenceNode ? ComposeFile.Scalars(networks, $"{service} networks") : ComposeFile.Merge(Assert.IsType<YamlMappingNode>(networks)).Keys.ToArray();
    }

    private sealed record PublishedPort(string Spec, string? HostIp, int Container);

    /// <summary>A service's published ports in short syntax (<c>[IP:]HOST:CONTAINER[/proto]</c>).</summary>
    private static IReadOnlyList<PublishedPort> Ports(string service)
    {
        if (!Compose.Service(service).TryGetValue("ports", out var ports))
        {
            return [];
        }

        return ComposeFile.Scalars(ports, $"{service} ports").Select(spec =>
        {
            var parts = spec.Split('/')[0].Split(':');
            return new PublishedPort(spec, parts.Length == 3 ? parts[0] : null, int.Parse(parts[^1], CultureInfo.InvariantCulture));
        }).ToArray();
    }

    /// <summary>The project and every project it references, transitively, as repository-relative paths.</summary>
    private static IReadOnlyCollection<string> ProjectClosure(string project)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var current))
        {
            if (!found.Add(current))
            {
                continue;
            }

            var directory = Path.GetDirectoryName(Path.Combine(Root, current))!;
            foreach (var reference in XDocument.Load(Path.Combine(Root, current)).Descendants("ProjectReference"))
            {
                var full = Path.GetFullPath(Path.Combine(directory, reference.Attribute("Include")!.Value));
                pending.Push(Path.GetRelativePath(Root, full).Replace('\\', '/'));
            }
        }

        return found;
    }

    private static int IndexOf(DockerfileText.Stage stage, string keyword, string start)
    {
        var index = stage.Instructions.ToList().FindIndex(instruction => instruction.Keyword == keyword && instruction.Arguments.StartsWith(start, StringComparison.Ordinal));
        Assert.True(index >= 0, $"The {stage.Name ?? stage.Image} stage has no '{keyword} {start}…'.");
        return index;
    }

    private static string After(IReadOnlyList<string> words, params string[] options)
    {
        var index = words.ToList().FindIndex(word => options.Contains(word));
        Assert.True(index >= 0 && index + 1 < words.Count, $"'{string.Join(' ', words)}' has no {string.Join(" or ", options)}.");
        return words[index + 1];
    }
}
