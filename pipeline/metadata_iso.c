/*
 * metadata_iso.c -- a bundle's facts (metadata_int.h) as an ISO 19115 record encoded in
 * ISO/TS 19139 XML (gmd/gco namespaces of 2005, schemas of 2007-04-17), the form
 * Malaysia's MyGDI catalogue and GeoNetwork take.  Written with libxml2's xmlTextWriter,
 * which escapes every text.  What it holds: identification (title, abstract, purpose,
 * contacts, keywords, licence, DOI), the extent in WGS 84 and the CRS, distribution
 * (the bundle file, its size and SHA-256) and data quality: per dataset a positional
 * accuracy report of its coordinate operation, and the lineage (one process step per
 * dataset, one source per input file with its digest).  It does not describe the grid
 * (MD_GridSpatialRepresentation) nor feature catalogues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_items.h"
#include "metadata_int.h"
#include "util.h"

#define CODELISTS "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml#"

/* <name><gco:CharacterString>text</gco:CharacterString></name> */
static void cs(lode__xw *x, const char *name, const char *text)
{
	lode__xw_start(x, name);
	lode__xw_elem(x, "gco:CharacterString", text);
	lode__xw_end(x);
}

/* <name><gmd:LIST codeList=... codeListValue="v">v</gmd:LIST></name> */
static void codelist(lode__xw *x, const char *name, const char *list, const char *v)
{
	char href[200], el[80];

	snprintf(href, sizeof href, CODELISTS "%s", list);
	snprintf(el, sizeof el, "gmd:%s", list);
	lode__xw_start(x, name);
	lode__xw_start(x, el);
	lode__xw_attr(x, "codeList", href);
	lode__xw_attr(x, "codeListValue", v);
	if (!x->bad && xmlTextWriterWriteString(x->w, BAD_CAST v) < 0)
		x->bad = 1;
	lode__xw_end(x);
	lode__xw_end(x);
}

/* A CI_ResponsibleParty from the creator_* (or publisher_*) attributes. */
static void party(lode__xw *x, const json_t *f, const char *wrap, const char *who, const char *role)
{
	char k[64];
#define A(s) (snprintf(k, sizeof k, "%s_%s", who, s), lode__md_attr(f, k))
	const char *name = A("name"), *org = A("institution"), *email = A("email"), *url = A("url"),
		   *phone = A("phone"), *addr = A("address"), *city = A("city"), *state = A("state"),
		   *postal = A("postal_code"), *country = A("country");
#undef A
	if (!org && strcmp(who, "creator") == 0)
		org = lode__md_attr(f, "institution");
	lode__xw_start(x, wrap);
	lode__xw_start(x, "gmd:CI_ResponsibleParty");
	if (name)
		cs(x, "gmd:individualName", name);
	if (org)
		cs(x, "gmd:organisationName", org);
	lode__xw_start(x, "gmd:contactInfo");
	lode__xw_start(x, "gmd:CI_Contact");
	if (phone) {
		lode__xw_start(x, "gmd:phone");
		lode__xw_start(x, "gmd:CI_Telephone");
		cs(x, "gmd:voice", phone);
		lode__xw_end(x);
		lode__xw_end(x);
	}
	lode__xw_start(x, "gmd:address");
	lode__xw_start(x, "gmd:CI_Address");
	if (addr)
		cs(x, "gmd:deliveryPoint", addr);
	if (city)
		cs(x, "gmd:city", city);
	if (state)
		cs(x, "gmd:administrativeArea", state);
	if (postal)
		cs(x, "gmd:postalCode", postal);
	if (country)
		cs(x, "gmd:country", country);
	if (email)
		cs(x, "gmd:electronicMailAddress", email);
	lode__xw_end(x);
	lode__xw_end(x);
	if (url) {
		lode__xw_start(x, "gmd:onlineResource");
		lode__xw_start(x, "gmd:CI_OnlineResource");
		lode__xw_start(x, "gmd:linkage");
		lode__xw_elem(x, "gmd:URL", url);
		lode__xw_end(x);
		lode__xw_end(x);
		lode__xw_end(x);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	codelist(x, "gmd:role", "CI_RoleCode", role);
	lode__xw_end(x);
	lode__xw_end(x);
}

static void identifier(lode__xw *x, const char *wrap, const char *text)
{
	lode__xw_start(x, wrap);
	lode__xw_start(x, "gmd:MD_Identifier");
	cs(x, "gmd:code", text);
	lode__xw_end(x);
	lode__xw_end(x);
}

static void ref_system(lode__xw *x, const char *wrap, const char *crs, const char *version)
{
	lode__xw_start(x, wrap);
	lode__xw_start(x, "gmd:MD_ReferenceSystem");
	lode__xw_start(x, "gmd:referenceSystemIdentifier");
	lode__xw_start(x, "gmd:RS_Identifier");
	cs(x, "gmd:code", crs);
	if (strncmp(crs, "EPSG:", 5) == 0) {
		cs(x, "gmd:codeSpace", "EPSG");
		if (version)
			cs(x, "gmd:version", version);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
}

static void keywords(lode__xw *x, const char *list)
{
	char *copy = lode__strdup(list), *save = NULL;

	lode__xw_start(x, "gmd:descriptiveKeywords");
	lode__xw_start(x, "gmd:MD_Keywords");
	for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; k; k = strtok_r(NULL, ",", &save)) {
		k += strspn(k, " ");
		if (*k)
			cs(x, "gmd:keyword", k);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	free(copy);
}

static void bbox(lode__xw *x, const json_t *f)
{
	static const char *const sides[4] = {"gmd:westBoundLongitude", "gmd:southBoundLatitude",
					     "gmd:eastBoundLongitude", "gmd:northBoundLatitude"};
	static const int order[4] = {0, 2, 1, 3};
	const json_t *w = json_object_get(f, "bbox_wgs84"), *b = json_object_get(f, "bbox");
	char v[64], desc[400];

	snprintf(desc, sizeof desc,
		 "Extent of every dataset in %s: %.10g %.10g %.10g %.10g (xmin ymin xmax ymax)",
		 lode__md_str(f, "crs"), json_number_value(json_array_get(b, 0)),
		 json_number_value(json_array_get(b, 1)), json_number_value(json_array_get(b, 2)),
		 json_number_value(json_array_get(b, 3)));
	lode__xw_start(x, "gmd:extent");
	lode__xw_start(x, "gmd:EX_Extent");
	cs(x, "gmd:description", desc);
	lode__xw_start(x, "gmd:geographicElement");
	lode__xw_start(x, "gmd:EX_GeographicBoundingBox");
	for (int k = 0; k < 4; k++) {
		int i = order[k];
		snprintf(v, sizeof v, "%.10g", json_number_value(json_array_get(w, (size_t)i)));
		lode__xw_start(x, sides[i]);
		lode__xw_elem(x, "gco:Decimal", v);
		lode__xw_end(x);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
}

static void identification(lode__xw *x, const json_t *f)
{
	const char *date = lode__md_str(f, "date"), *created = lode__md_attr(f, "date_created");
	const char *doi = lode__md_attr(f, "doi"), *kw = lode__md_attr(f, "keywords");
	char id[120], when[16];

	snprintf(when, sizeof when, "%.10s", created ? created : date);
	lode__xw_start(x, "gmd:identificationInfo");
	lode__xw_start(x, "gmd:MD_DataIdentification");
	lode__xw_start(x, "gmd:citation");
	lode__xw_start(x, "gmd:CI_Citation");
	cs(x, "gmd:title", lode__md_attr(f, "title"));
	lode__xw_start(x, "gmd:date");
	lode__xw_start(x, "gmd:CI_Date");
	lode__xw_start(x, "gmd:date");
	lode__xw_elem(x, "gco:Date", when);
	lode__xw_end(x);
	codelist(x, "gmd:dateType", "CI_DateTypeCode", created ? "creation" : "publication");
	lode__xw_end(x);
	lode__xw_end(x);
	if (doi) {
		snprintf(id, sizeof id, "doi:%.100s", doi);
		identifier(x, "gmd:identifier", id);
	}
	snprintf(id, sizeof id, "lode-bundle-sha256:%s", lode__md_str(f, "bundle_sha256"));
	identifier(x, "gmd:identifier", id);
	party(x, f, "gmd:citedResponsibleParty", "creator", "originator");
	lode__xw_end(x);
	lode__xw_end(x);
	cs(x, "gmd:abstract", lode__md_attr(f, "summary"));
	if (lode__md_attr(f, "purpose"))
		cs(x, "gmd:purpose", lode__md_attr(f, "purpose"));
	party(x, f, "gmd:pointOfContact", "creator", "pointOfContact");
	if (lode__md_attr(f, "publisher_name") || lode__md_attr(f, "publisher_institution"))
		party(x, f, "gmd:pointOfContact", "publisher", "publisher");
	if (kw)
		keywords(x, kw);
	lode__xw_start(x, "gmd:resourceConstraints");
	lode__xw_start(x, "gmd:MD_LegalConstraints");
	cs(x, "gmd:useLimitation", lode__md_attr(f, "license"));
	lode__xw_end(x);
	lode__xw_end(x);
	cs(x, "gmd:language", "eng");
	lode__xw_start(x, "gmd:topicCategory");
	lode__xw_elem(x, "gmd:MD_TopicCategoryCode", "geoscientificInformation");
	lode__xw_end(x);
	bbox(x, f);
	lode__xw_end(x);
	lode__xw_end(x);
}

static void distribution(lode__xw *x, const json_t *f)
{
	char mb[64], desc[300];
	const char *ver = lode__md_attr(f, "lode_format_version");

	snprintf(mb, sizeof mb, "%.6f", (double)json_integer_value(json_object_get(f, "file_size")) / 1e6);
	snprintf(desc, sizeof desc,
		 "lode bundle (netCDF-4/HDF5, CF-1.8, ACDD-1.3); file SHA-256 %s; bundle digest %s",
		 lode__md_str(f, "file_sha256"), lode__md_str(f, "bundle_sha256"));
	lode__xw_start(x, "gmd:distributionInfo");
	lode__xw_start(x, "gmd:MD_Distribution");
	lode__xw_start(x, "gmd:distributionFormat");
	lode__xw_start(x, "gmd:MD_Format");
	cs(x, "gmd:name", "netCDF-4 (lode bundle)");
	cs(x, "gmd:version", ver ? ver : "2");
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_start(x, "gmd:transferOptions");
	lode__xw_start(x, "gmd:MD_DigitalTransferOptions");
	cs(x, "gmd:unitsOfDistribution", "MB");
	lode__xw_start(x, "gmd:transferSize");
	lode__xw_elem(x, "gco:Real", mb);
	lode__xw_end(x);
	lode__xw_start(x, "gmd:onLine");
	lode__xw_start(x, "gmd:CI_OnlineResource");
	lode__xw_start(x, "gmd:linkage");
	lode__xw_elem(x, "gmd:URL", lode__md_str(f, "file"));
	lode__xw_end(x);
	cs(x, "gmd:name", lode__md_str(f, "file"));
	cs(x, "gmd:description", desc);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
}

/* One DQ_AbsoluteExternalPositionalAccuracy per dataset: its operation's accuracy. */
static void accuracy_report(lode__xw *x, const json_t *ds)
{
	const json_t *op = json_object_get(json_object_get(ds, "lineage"), "operation");
	const char *c = lode__md_str(op, "code");
	json_t *acc = json_object_get(op, "accuracy_m");
	char *words = lode__md_accuracy_text(op), name[200], v[64];
	int known = json_is_number(acc) && !json_is_true(json_object_get(op, "ballpark"));

	snprintf(name, sizeof name, "accuracy of the coordinate operation applied to %s",
		 lode__md_str(ds, "name"));
	lode__xw_start(x, "gmd:report");
	lode__xw_start(x, "gmd:DQ_AbsoluteExternalPositionalAccuracy");
	cs(x, "gmd:nameOfMeasure", name);
	if (c)
		identifier(x, "gmd:measureIdentification", c);
	cs(x, "gmd:measureDescription", words ? words : "unknown");
	cs(x, "gmd:evaluationMethodDescription",
	   "The accuracy the EPSG dataset (through PROJ) gives for the coordinate operation lode applied, "
	   "as recorded in the bundle's lineage; not measured on the data.");
	lode__xw_start(x, "gmd:result");
	lode__xw_start(x, "gmd:DQ_QuantitativeResult");
	lode__xw_start(x, "gmd:valueUnit");
	lode__xw_attr(x, "xlink:href", "http://www.opengis.net/def/uom/EPSG/0/9001");
	lode__xw_end(x);
	lode__xw_start(x, "gmd:value");
	if (known) {
		snprintf(v, sizeof v, "%g", json_number_value(acc));
		lode__xw_elem(x, "gco:Record", v);
	} else {
		lode__xw_attr(x, "gco:nilReason", "unknown");
	}
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	free(words);
}

/* One LI_Source per input file (each dataset's source; a file used twice once). */
static void sources(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");

	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *src =
		    json_object_get(json_object_get(json_array_get(dss, i), "lineage"), "source");
		const char *path = lode__md_str(src, "path"), *sha = lode__md_str(src, "sha256");
		char desc[600], id[100];
		int seen = 0;

		for (size_t k = 0; k < i && path && sha; k++) {
			const json_t *o =
			    json_object_get(json_object_get(json_array_get(dss, k), "lineage"), "source");
			seen |= lode__md_str(o, "path") && lode__md_str(o, "sha256") &&
				strcmp(lode__md_str(o, "path"), path) == 0 &&
				strcmp(lode__md_str(o, "sha256"), sha) == 0;
		}
		if (!path || seen)
			continue;
		snprintf(desc, sizeof desc, "%s (%lld bytes, SHA-256 %s), in %s", path,
			 (long long)json_integer_value(json_object_get(src, "size")), sha ? sha : "unknown",
			 lode__md_str(src, "crs") ? lode__md_str(src, "crs") : "an unnamed CRS");
		lode__xw_start(x, "gmd:source");
		lode__xw_start(x, "gmd:LI_Source");
		cs(x, "gmd:description", desc);
		if (lode__md_str(src, "crs"))
			ref_system(x, "gmd:sourceReferenceSystem", lode__md_str(src, "crs"), NULL);
		lode__xw_start(x, "gmd:sourceCitation");
		lode__xw_start(x, "gmd:CI_Citation");
		cs(x, "gmd:title", path);
		lode__xw_start(x, "gmd:date");
		lode__xw_attr(x, "gco:nilReason", "unknown");
		lode__xw_end(x);
		if (sha) {
			snprintf(id, sizeof id, "sha256:%s", sha);
			identifier(x, "gmd:identifier", id);
		}
		lode__xw_end(x);
		lode__xw_end(x);
		lode__xw_end(x);
		lode__xw_end(x);
	}
}

static void quality(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");
	const char *created = lode__md_attr(f, "date_created");

	lode__xw_start(x, "gmd:dataQualityInfo");
	lode__xw_start(x, "gmd:DQ_DataQuality");
	lode__xw_start(x, "gmd:scope");
	lode__xw_start(x, "gmd:DQ_Scope");
	codelist(x, "gmd:level", "MD_ScopeCode", "dataset");
	lode__xw_end(x);
	lode__xw_end(x);
	for (size_t i = 0; i < json_array_size(dss); i++)
		accuracy_report(x, json_array_get(dss, i));
	lode__xw_start(x, "gmd:lineage");
	lode__xw_start(x, "gmd:LI_Lineage");
	cs(x, "gmd:statement",
	   "Made by lode from the sources below: each dataset reprojected onto one target CRS and grid with "
	   "the coordinate operation its manifest's policy chose; the bundle's lineage records every "
	   "candidate operation and why it was refused (lode ls --json).");
	for (size_t i = 0; i < json_array_size(dss); i++) {
		char *t = lode__md_step_text(json_array_get(dss, i));
		lode__xw_start(x, "gmd:processStep");
		lode__xw_start(x, "gmd:LI_ProcessStep");
		cs(x, "gmd:description", t ? t : "?");
		if (created) {
			lode__xw_start(x, "gmd:dateTime");
			lode__xw_elem(x, "gco:DateTime", created);
			lode__xw_end(x);
		}
		lode__xw_end(x);
		lode__xw_end(x);
		free(t);
	}
	sources(x, f);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
}

lode_status lode__md_iso(const json_t *f, char **out, lode_error *err)
{
	lode__xw x;
	char id[120];
	const json_t *ds0 = json_array_get(json_object_get(f, "datasets"), 0);
	const char *epsgv = lode__md_str(json_object_get(ds0, "lineage"), "epsg_version");

	if (lode__xw_begin(&x) < 0)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	lode__xw_start(&x, "gmd:MD_Metadata");
	lode__xw_attr(&x, "xmlns:gmd", "http://www.isotc211.org/2005/gmd");
	lode__xw_attr(&x, "xmlns:gco", "http://www.isotc211.org/2005/gco");
	lode__xw_attr(&x, "xmlns:gml", "http://www.opengis.net/gml/3.2");
	lode__xw_attr(&x, "xmlns:xlink", "http://www.w3.org/1999/xlink");
	snprintf(id, sizeof id, "lode-%s", lode__md_str(f, "bundle_sha256"));
	cs(&x, "gmd:fileIdentifier", id);
	cs(&x, "gmd:language", "eng");
	codelist(&x, "gmd:characterSet", "MD_CharacterSetCode", "utf8");
	codelist(&x, "gmd:hierarchyLevel", "MD_ScopeCode", "dataset");
	party(&x, f, "gmd:contact", "creator", "pointOfContact");
	lode__xw_start(&x, "gmd:dateStamp");
	lode__xw_elem(&x, "gco:Date", lode__md_str(f, "date"));
	lode__xw_end(&x);
	cs(&x, "gmd:metadataStandardName", "ISO 19115:2003/19139");
	cs(&x, "gmd:metadataStandardVersion", "1.0");
	ref_system(&x, "gmd:referenceSystemInfo", lode__md_str(f, "crs"), epsgv);
	identification(&x, f);
	distribution(&x, f);
	quality(&x, f);
	lode__xw_end(&x);
	return lode__xw_finish(&x, out, err);
}
