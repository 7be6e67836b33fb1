import DefaultTheme from "vitepress/theme";
import type { Theme } from "vitepress";
import PropertiesTable from "./components/PropertiesTable.vue";
import MechanismFacts from "./components/MechanismFacts.vue";
import MechanismLimits from "./components/MechanismLimits.vue";
import MechanismNumbers from "./components/MechanismNumbers.vue";
import MeasuredTable from "./components/MeasuredTable.vue";
import ResultsSource from "./components/ResultsSource.vue";
import ThroughputChart from "./components/ThroughputChart.vue";
import LatencyChart from "./components/LatencyChart.vue";
import RatioChart from "./components/RatioChart.vue";
import RoundTripTable from "./components/RoundTripTable.vue";
import RoundTripChart from "./components/RoundTripChart.vue";
import Ordering from "./components/Ordering.vue";
import "./style.css";

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    for (const [name, c] of Object.entries({
      PropertiesTable,
      MechanismFacts,
      MechanismLimits,
      MechanismNumbers,
      MeasuredTable,
      ResultsSource,
      ThroughputChart,
      LatencyChart,
      RatioChart,
      RoundTripTable,
      RoundTripChart,
      Ordering,
    })) app.component(name, c);
  },
} satisfies Theme;
