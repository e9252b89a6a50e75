// Command pulumi-resource-aws is a TEST STAND-IN for the published pulumi-aws plugin, used only by the e2e test
// (npm run test:e2e) on machines that cannot download that plugin. It bridges the same upstream Terraform AWS
// provider that pulumi-aws bridges, with the same bridge, but maps only what MlLambda registers, under
// @pulumi/aws 7.48.0's tokens and property names (test/e2e checks the names against node_modules/@pulumi/aws).
// What it does NOT have of pulumi-aws: every other resource, the Plugin Framework half of the provider (e.g.
// aws:index/getPartition), pulumi-aws's own overrides (credential checks, docs, aliases, default tags handling
// beyond Terraform's), and its generated schema. A user's machine runs the real plugin instead.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	upstream "github.com/hashicorp/terraform-provider-aws/mllambda"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// version is the @pulumi/aws version whose tokens this maps; the engine asks for this plugin version.
const version = "7.48.0"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-dump-names" {
		dumpNames()
		return
	}
	tfbridge.Main("aws", version, providerInfo(), nil)
}

// autoName gives a property pulumi-aws's auto-naming (logical name + "-" + random suffix) when left unset.
func autoName(pulumiName string, maxLen int) *tfbridge.SchemaInfo {
	return tfbridge.AutoName(pulumiName, maxLen, "-")
}

// lowerAutoName is autoName for names AWS wants in lower case (S3 buckets, ECR repositories).
func lowerAutoName(pulumiName string, maxLen int) *tfbridge.SchemaInfo {
	return tfbridge.AutoNameTransform(pulumiName, maxLen, strings.ToLower)
}

// zipArchive: a pulumi.asset.Archive written to a zip file whose path the Terraform attribute receives (Lambda
// code and layers), as pulumi-aws does.
func zipArchive(pulumiName string) *tfbridge.SchemaInfo {
	return &tfbridge.SchemaInfo{Name: pulumiName, Asset: &tfbridge.AssetTranslation{Kind: tfbridge.FileArchive, Format: resource.ZIPArchive}}
}

// fileAsset: a pulumi.asset.Asset written to a file whose path the Terraform attribute receives (S3 objects).
func fileAsset() *tfbridge.SchemaInfo {
	return &tfbridge.SchemaInfo{Asset: &tfbridge.AssetTranslation{Kind: tfbridge.FileAsset}}
}

// resources: every resource type components/mlLambda.ts registers (both packaging paths), plus the function URL and
// its permission. Terraform names -> @pulumi/aws 7.48.0 tokens; Fields only where pulumi-aws renames or translates.
var resources = map[string]*tfbridge.ResourceInfo{
	"aws_s3_bucket":            {Tok: "aws:s3/bucket:Bucket", Fields: map[string]*tfbridge.SchemaInfo{"bucket": lowerAutoName("bucket", 63)}},
	"aws_s3_bucket_versioning": {Tok: "aws:s3/bucketVersioning:BucketVersioning"},
	"aws_s3_bucket_server_side_encryption_configuration": {Tok: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"},
	"aws_s3_bucket_public_access_block":                  {Tok: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"},
	"aws_s3_bucket_ownership_controls":                   {Tok: "aws:s3/bucketOwnershipControls:BucketOwnershipControls"},
	"aws_s3_bucket_policy":                               {Tok: "aws:s3/bucketPolicy:BucketPolicy"},
	"aws_s3_object":                                      {Tok: "aws:s3/bucketObjectv2:BucketObjectv2", Fields: map[string]*tfbridge.SchemaInfo{"source": fileAsset()}},
	"aws_cloudwatch_log_group":                           {Tok: "aws:cloudwatch/logGroup:LogGroup", Fields: map[string]*tfbridge.SchemaInfo{"name": autoName("name", 512)}},
	"aws_cloudwatch_query_definition":                    {Tok: "aws:cloudwatch/queryDefinition:QueryDefinition"},
	"aws_cloudwatch_metric_alarm":                        {Tok: "aws:cloudwatch/metricAlarm:MetricAlarm", Fields: map[string]*tfbridge.SchemaInfo{"alarm_name": autoName("name", 255)}},
	"aws_iam_role":                                       {Tok: "aws:iam/role:Role", Fields: map[string]*tfbridge.SchemaInfo{"name": autoName("name", 64)}},
	"aws_iam_role_policy":                                {Tok: "aws:iam/rolePolicy:RolePolicy", Fields: map[string]*tfbridge.SchemaInfo{"name": autoName("name", 128)}},
	"aws_lambda_layer_version":                           {Tok: "aws:lambda/layerVersion:LayerVersion", Fields: map[string]*tfbridge.SchemaInfo{"filename": zipArchive("code")}},
	"aws_lambda_function": {Tok: "aws:lambda/function:Function", Fields: map[string]*tfbridge.SchemaInfo{
		"function_name": autoName("name", 64),
		"filename":      zipArchive("code"),
	}},
	"aws_lambda_alias":                          {Tok: "aws:lambda/alias:Alias"},
	"aws_lambda_provisioned_concurrency_config": {Tok: "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"},
	"aws_lambda_function_url":                   {Tok: "aws:lambda/functionUrl:FunctionUrl"},
	"aws_lambda_permission": {Tok: "aws:lambda/permission:Permission", Fields: map[string]*tfbridge.SchemaInfo{
		"function_name": {Name: "function"},
	}},
	"aws_appautoscaling_target": {Tok: "aws:appautoscaling/target:Target"},
	"aws_appautoscaling_policy": {Tok: "aws:appautoscaling/policy:Policy", Fields: map[string]*tfbridge.SchemaInfo{"name": autoName("name", 255)}},
	"aws_ecr_repository":        {Tok: "aws:ecr/repository:Repository", Fields: map[string]*tfbridge.SchemaInfo{"name": lowerAutoName("name", 256)}},
	"aws_ecr_lifecycle_policy":  {Tok: "aws:ecr/lifecyclePolicy:LifecyclePolicy"},
}

// dataSources: what the component invokes. aws_partition (aws:index/getPartition, used only with an existing
// model bucket) is a Plugin Framework data source upstream, which this SDKv2-only bridge cannot serve.
var dataSources = map[string]*tfbridge.DataSourceInfo{
	"aws_ecr_authorization_token": {Tok: "aws:ecr/getAuthorizationToken:getAuthorizationToken"},
}

func providerInfo() tfbridge.ProviderInfo {
	p, err := upstream.SDKv2Provider(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "terraform-provider-aws: %v\n", err)
		os.Exit(1)
	}
	// Keep only what is mapped: the bridge then validates and serves exactly these types.
	for name := range p.ResourcesMap {
		if _, ok := resources[name]; !ok {
			delete(p.ResourcesMap, name)
		}
	}
	for name := range p.DataSourcesMap {
		if _, ok := dataSources[name]; !ok {
			delete(p.DataSourcesMap, name)
		}
	}
	return tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(p),
		Name:         "aws",
		Version:      version,
		Resources:    resources,
		DataSources:  dataSources,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
}

// dumpNames prints, per token, the Pulumi names of the input and output properties this mapping produces, so the
// e2e test can compare them with @pulumi/aws's .d.ts files (a mapping mistake shows there, not as a late diff).
func dumpNames() {
	info := providerInfo()
	out := map[string]map[string][]string{}
	info.P.ResourcesMap().Range(func(tfName string, res shim.Resource) bool {
		ri := resources[tfName]
		inputs, outputs := []string{}, []string{}
		res.Schema().Range(func(key string, s shim.Schema) bool {
			if key == "id" {
				return true
			}
			name := tfbridge.TerraformToPulumiNameV2(key, res.Schema(), ri.Fields)
			if s.Optional() || s.Required() {
				inputs = append(inputs, name)
			}
			outputs = append(outputs, name)
			return true
		})
		sort.Strings(inputs)
		sort.Strings(outputs)
		out[ri.Tok.String()] = map[string][]string{"inputs": inputs, "outputs": outputs}
		return true
	})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
