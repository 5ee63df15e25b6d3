using System.Globalization;
using System.Reflection;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Orleans.Hosting.Kubernetes;
using Quota.Deploy.Tests.Infrastructure;
using Quota.Http.Tests.Deployment;
using Quota.Grains.Configuration;
using Quota.Server.Hosting;
using Quota.Server.Rls;
using Quota.Testing;

namespace Quota.Deploy.Tests;

/// <summary>
/// deploy/k8s rendered per overlay and checked against the code it configures: the configuration names, ports, probe
/// paths and shutdown timeout the silo really has, the labels and verbs Orleans' Kubernetes hosting really uses. A
/// renamed option, a moved port or a Role missing a verb fails here, not in a cluster that never forms.
/// </summary>
public sealed class ManifestTests
{
    public static TheoryData<string> Overlays => [.. RenderedOverlay.Overlays];

    /// <summary>Keys the framework reads (not Quota's options classes), as environment variables.</summary>
    private static readonly string[] FrameworkVariables = ["urls", "ConnectionStrings__Quota", "DOTNET_SHUTDOWNTIMEOUTSECONDS"];

    /// <summary>Every options class's section: the types with a <c>SectionName</c> constant in the silo's assemblies.</summary>
    private static readonly ILookup<string, Type> OptionsBySection = new[] { typeof(QuotaClusterOptions).Assembly, typeof(PolicyOptions).Assembly }
        .SelectMany(assembly => assembly.GetExportedTypes())
        .Select(type => (type, field: type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static)))
        .Where(pair => pair.field is { IsLiteral: true })
        .ToLookup(pair => (string)pair.field!.GetRawConstantValue()!, pair => pair.type, StringComparer.OrdinalIgnoreCase);

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_overlay_holds_exactly_the_objects_a_silo_deployment_needs(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var kinds = rendered.Objects.Select(o => o.GetType().Name).Order(StringComparer.Ordinal).ToArray();

        string[] expected = ["V1ConfigMap", "V1Deployment", "V1PodDisruptionBudget", "V1Role", "V1RoleBinding", "V1Secret", "V1Service", "V1ServiceAccount"];
        Assert.Equal(overlay == "production" ? [.. expected, "V2HorizontalPodAutoscaler"] : expected, kinds.Order(StringComparer.Ordinal).ToArray());
        var namespaces = rendered.Objects.OfType<k8s.IKubernetesObject<V1ObjectMeta>>().Select(o => o.Metadata.NamespaceProperty).Distinct().ToArray();
        Assert.Equal([overlay == "production" ? "quota" : "quota-dev"], namespaces);
    }

    [Fact]
    public void Loading_is_strict_a_field_the_API_does_not_know_fails()
    {
        var yaml = RenderedOverlay.Get("dev").Yaml;
        Assert.Contains("\n  strategy:\n", yaml, StringComparison.Ordinal);

        var misspelt = yaml.Replace("\n  strategy:\n", "\n  strategegy:\n", StringComparison.Ordinal);

        Assert.ThrowsAny<Exception>(() => RenderedOverlay.LoadStrictly(misspelt));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_variable_names_a_configuration_key_the_silo_reads(string overlay)
    {
        var problems = new List<string>();
        foreach (var variable in Container(overlay).Env)
        {
            if (ConfigurationProblem(variable.Name) is { } problem)
            {
                problems.Add(problem);
            }
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_pod_gives_the_silo_its_name_namespace_and_address_from_the_downward_API(string overlay)
    {
        var env = Container(overlay).Env.ToDictionary(v => v.Name);
        var fields = PodEnvironment.Variables.ToDictionary(name => name, name => env.TryGetValue(name, out var v) ? v.ValueFrom?.FieldRef?.FieldPath : null);

        Assert.Equal(
            new Dictionary<string, string?>
            {
                [KubernetesHostingOptions.PodNameEnvironmentVariable] = "metadata.name",
                [KubernetesHostingOptions.PodNamespaceEnvironmentVariable] = "metadata.namespace",
                [KubernetesHostingOptions.PodIPEnvironmentVariable] = "status.podIP",
            },
            fields);
        Assert.Equal("postgres", Value(overlay, QuotaStorageOptions.SectionName, nameof(QuotaStorageOptions.Provider)));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_Orleans_labels_name_the_silos_cluster_and_service(string overlay)
    {
        var labels = RenderedOverlay.Get(overlay).Single<V1Deployment>().Spec.Template.Metadata.Labels;
        var defaults = new QuotaClusterOptions();

        Assert.Equal(Value(overlay, QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.ServiceId)) ?? defaults.ServiceId, labels[KubernetesHostingOptions.ServiceIdLabel]);
        Assert.Equal(Value(overlay, QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.ClusterId)) ?? defaults.ClusterId, labels[KubernetesHostingOptions.ClusterIdLabel]);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_container_ports_are_the_ports_the_silo_listens_on(string overlay)
    {
        var container = Container(overlay);
        var ports = container.Ports.ToDictionary(p => p.Name, p => p.ContainerPort);
        var defaults = new QuotaClusterOptions();
        var urls = Env(overlay, "urls") ?? Dockerfile().Environment()["urls"];

        Assert.Equal(
            new Dictionary<string, int>
            {
                ["http"] = new Uri(urls).Port,
                ["rls"] = new Uri(Value(overlay, RlsOptions.SectionName, nameof(RlsOptions.Url)) ?? Dockerfile().Environment()["Quota__Rls__Url"]).Port,
                ["silo"] = Port(Value(overlay, QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.SiloPort))) ?? defaults.SiloPort,
                ["gateway"] = Port(Value(overlay, QuotaClusterOptions.SectionName, nameof(QuotaClusterOptions.GatewayPort))) ?? defaults.GatewayPort,
            },
            ports);

        // The same ports the image declares and the same listen address: the manifest and deploy/Dockerfile agree.
        var exposed = Dockerfile().All("EXPOSE").SelectMany(e => DockerfileText.Words(e.Arguments)).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Order().ToArray();
        Assert.Equal(ports.Values.Order().ToArray(), exposed);
        Assert.Equal(Dockerfile().Environment()["urls"], urls);

        // The image's entrypoint runs the silo: the manifest must not replace it.
        Assert.Null(container.Command);
        Assert.Null(container.Args);
        Assert.StartsWith(overlay == "production" ? "registry.example.com/quota-silo:" : "quota-silo:", container.Image, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_probes_ask_the_paths_the_silo_serves_on_its_HTTP_port(string overlay)
    {
        var container = Container(overlay);

        Assert.Equal((QuotaApplicationExtensions.ReadinessPath, "http"), (container.ReadinessProbe.HttpGet.Path, container.ReadinessProbe.HttpGet.Port.Value));
        Assert.Equal((QuotaApplicationExtensions.LivenessPath, "http"), (container.LivenessProbe.HttpGet.Path, container.LivenessProbe.HttpGet.Port.Value));
        Assert.Equal((QuotaApplicationExtensions.LivenessPath, "http"), (container.StartupProbe.HttpGet.Path, container.StartupProbe.HttpGet.Port.Value));

        // /readyz waits up to 2 s for a grain's answer: the probe must wait longer than that before it calls it a failure.
        Assert.True(container.ReadinessProbe.TimeoutSeconds > 2, $"readinessProbe.timeoutSeconds is {container.ReadinessProbe.TimeoutSeconds}; /readyz may take 2 s.");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_grace_period_outlasts_the_pause_before_stopping_and_the_silos_shutdown_timeout(string overlay)
    {
        var pod = RenderedOverlay.Get(overlay).Single<V1Deployment>().Spec.Template.Spec;
        var shutdown = Env(overlay, "DOTNET_SHUTDOWNTIMEOUTSECONDS") is { } seconds
            ? TimeSpan.FromSeconds(int.Parse(seconds, CultureInfo.InvariantCulture))
            : new HostOptions().ShutdownTimeout;
        var pause = TimeSpan.FromSeconds(Container(overlay).Lifecycle?.PreStop?.Sleep?.Seconds ?? 0);

        Assert.Equal(TimeSpan.FromSeconds(60), shutdown);
        Assert.Equal(TimeSpan.FromSeconds(5), pause);
        Assert.True(
            TimeSpan.FromSeconds(pod.TerminationGracePeriodSeconds ?? 30) > pause + shutdown,
            $"terminationGracePeriodSeconds ({pod.TerminationGracePeriodSeconds}) must exceed the preStop pause ({pause.TotalSeconds} s) plus the shutdown timeout ({shutdown.TotalSeconds} s).");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void A_rolling_update_never_takes_a_silo_away_before_its_replacement_is_ready(string overlay)
    {
        var strategy = RenderedOverlay.Get(overlay).Single<V1Deployment>().Spec.Strategy;

        Assert.Equal("RollingUpdate", strategy.Type);
        Assert.Equal("0", strategy.RollingUpdate.MaxUnavailable.Value);
        Assert.Equal("1", strategy.RollingUpdate.MaxSurge.Value);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_selector_the_disruption_budget_and_the_Service_select_the_silo_pods(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var deployment = rendered.Single<V1Deployment>();
        var podLabels = deployment.Spec.Template.Metadata.Labels;
        static void Selects(IDictionary<string, string> selector, IDictionary<string, string> labels, string what) =>
            Assert.True(selector.Count > 0 && selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value), $"{what} ({string.Join(", ", selector)}) does not select the pods ({string.Join(", ", labels)}).");

        Selects(deployment.Spec.Selector.MatchLabels, podLabels, "The Deployment's selector");
        var budget = rendered.Single<V1PodDisruptionBudget>();
        Selects(budget.Spec.Selector.MatchLabels, podLabels, "The PodDisruptionBudget's selector");
        Assert.Equal("1", budget.Spec.MaxUnavailable.Value);
        Assert.Null(budget.Spec.MinAvailable);
        var service = rendered.Single<V1Service>();
        Selects(service.Spec.Selector, podLabels, "The Service's selector");

        var containerPorts = Container(overlay).Ports.ToDictionary(p => p.Name, p => p.ContainerPort);
        Assert.Equal(
            [("gateway", containerPorts["gateway"], "gateway"), ("http", containerPorts["http"], "http"), ("rls", containerPorts["rls"], "rls")],
            service.Spec.Ports.Select(p => (p.Name, p.Port, p.TargetPort.Value)).OrderBy(p => p.Name, StringComparer.Ordinal).ToArray());
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_Role_grants_exactly_the_verbs_Orleans_Kubernetes_hosting_uses_to_the_silos_account(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var role = rendered.Single<V1Role>();
        var rule = Assert.Single(role.Rules);

        // KubernetesClusterAgent: read its pod (get), label it (patch), list the cluster's pods (list), watch them (watch).
        // delete only with DeleteDefunctSiloPods, which Quota leaves off.
        Assert.Equal([string.Empty], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["get", "list", "patch", "watch"], rule.Verbs.Order(StringComparer.Ordinal));
        Assert.Null(rule.ResourceNames);

        var binding = rendered.Single<V1RoleBinding>();
        var account = rendered.Single<V1ServiceAccount>();
        Assert.Equal(("Role", role.Metadata.Name, "rbac.authorization.k8s.io"), (binding.RoleRef.Kind, binding.RoleRef.Name, binding.RoleRef.ApiGroup));
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", account.Metadata.Name, account.Metadata.NamespaceProperty), (subject.Kind, subject.Name, subject.NamespaceProperty));
        Assert.Equal(account.Metadata.Name, rendered.Single<V1Deployment>().Spec.Template.Spec.ServiceAccountName);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Secrets_come_from_the_generated_Secret_by_reference_and_never_as_values(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var secret = rendered.Single<V1Secret>();
        var env = Container(overlay).Env.ToDictionary(v => v.Name);
        string SecretKey(string variable)
        {
            Assert.True(env.TryGetValue(variable, out var v), $"The silo has no {variable}.");
            Assert.Null(v.Value);
            Assert.Equal(secret.Metadata.Name, v.ValueFrom.SecretKeyRef.Name);
            return v.ValueFrom.SecretKeyRef.Key;
        }

        var keys = new[]
        {
            SecretKey("ConnectionStrings__Quota"),
            SecretKey($"{Variable(SecretOptions.SectionName)}__{nameof(SecretOptions.MasterKeys)}__0"),
            SecretKey($"{Variable(SecretOptions.SectionName)}__{nameof(SecretOptions.Pepper)}"),
            SecretKey($"{Variable(Quota.Server.Admin.AdminOptions.SectionName)}__{nameof(Quota.Server.Admin.AdminOptions.Token)}"),
        };
        Assert.Equal(keys.Order(StringComparer.Ordinal), secret.Data.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(RenderedOverlay.ConnectionString, System.Text.Encoding.UTF8.GetString(secret.Data["connection-string"]));

        // Nothing secret is written into the pod spec as a plain value.
        var literal = Container(overlay).Env.Where(v => v.Value is not null).Select(v => v.Name);
        Assert.DoesNotContain(literal, name => name.StartsWith("Quota__Secrets", StringComparison.Ordinal) || name.StartsWith("Quota__Admin__Token", StringComparison.Ordinal) || name.StartsWith("ConnectionStrings", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_policies_document_is_mounted_where_Quota_PoliciesFile_points(string overlay)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var pod = rendered.Single<V1Deployment>().Spec.Template.Spec;
        var configMap = rendered.Single<V1ConfigMap>();
        var path = Env(overlay, PolicyOptions.FileKey.Replace(":", "__", StringComparison.Ordinal));
        Assert.NotNull(path);

        var mount = Assert.Single(Container(overlay).VolumeMounts);
        var volume = Assert.Single(pod.Volumes);
        Assert.Equal(volume.Name, mount.Name);
        Assert.True(mount.ReadOnlyProperty);
        Assert.Equal(configMap.Metadata.Name, volume.ConfigMap.Name);
        Assert.Equal(Path.Combine(mount.MountPath, Assert.Single(configMap.Data.Keys)), path);
    }

    [Theory]
    [InlineData("dev", 1, 2)]
    [InlineData("production", 3, int.MaxValue)]
    public void The_overlays_run_the_number_of_silos_they_promise(string overlay, int least, int most)
    {
        var rendered = RenderedOverlay.Get(overlay);
        var replicas = rendered.Single<V1Deployment>().Spec.Replicas ?? 1;

        Assert.InRange(replicas, least, most);
        if (overlay == "production")
        {
            var autoscaler = rendered.Single<V2HorizontalPodAutoscaler>();
            Assert.Equal(("apps/v1", "Deployment", rendered.Single<V1Deployment>().Metadata.Name), (autoscaler.Spec.ScaleTargetRef.ApiVersion, autoscaler.Spec.ScaleTargetRef.Kind, autoscaler.Spec.ScaleTargetRef.Name));
            Assert.Equal(replicas, autoscaler.Spec.MinReplicas);
            Assert.True(autoscaler.Spec.MaxReplicas > autoscaler.Spec.MinReplicas);

            // Scale in one silo at a time, within what the disruption budget allows at once.
            var down = Assert.Single(autoscaler.Spec.Behavior.ScaleDown.Policies);
            Assert.Equal(("Pods", 1), (down.Type, down.Value));
        }
    }

    private static V1Container Container(string overlay) => Assert.Single(RenderedOverlay.Get(overlay).Single<V1Deployment>().Spec.Template.Spec.Containers);

    private static string? Env(string overlay, string name) => Container(overlay).Env.FirstOrDefault(v => v.Name == name)?.Value;

    private static string Variable(string section) => section.Replace(":", "__", StringComparison.Ordinal);

    private static string? Value(string overlay, string section, string property) => Env(overlay, $"{Variable(section)}__{property}");

    private static int? Port(string? text) => text is null ? null : int.Parse(text, CultureInfo.InvariantCulture);

    private static DockerfileText.Stage Dockerfile() => DockerfileText.Load(Path.Combine(SiloProcess.Build().Root, "deploy", "Dockerfile")).Stages[^1];

    /// <summary>Null when <paramref name="name"/> is a key the silo reads; otherwise what is wrong.</summary>
    private static string? ConfigurationProblem(string name)
    {
        if (FrameworkVariables.Contains(name, StringComparer.Ordinal) || PodEnvironment.Variables.Contains(name, StringComparer.Ordinal)
            || name == Variable(PolicyOptions.FileKey))
        {
            return null;
        }

        var parts = name.Split("__");
        if (parts is not ["Quota", var section, var property, ..])
        {
            return $"{name} is neither a Quota__Section__Option variable nor a framework key the silo reads ({string.Join(", ", FrameworkVariables)}).";
        }

        var types = OptionsBySection[$"Quota:{section}"].ToArray();
        if (types.Length == 0)
        {
            return $"{name}: no options class has the section Quota:{section}.";
        }

        var found = types.Select(t => t.GetProperty(property, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)).FirstOrDefault(p => p is not null);
        if (found is null)
        {
            return $"{name}: no property {property} on {string.Join(" or ", types.Select(t => t.Name))} (section Quota:{section}).";
        }

        // A list entry (Quota__Secrets__MasterKeys__0) needs a list property and an index.
        return parts.Length == 4 && !(found.PropertyType.IsGenericType && int.TryParse(parts[3], CultureInfo.InvariantCulture, out _))
            ? $"{name}: {found.DeclaringType!.Name}.{found.Name} is not a list, or '{parts[3]}' is not an index."
            : parts.Length > 4 ? $"{name}: deeper than an option or a list entry." : null;
    }
}
